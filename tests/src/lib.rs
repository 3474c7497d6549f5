//! sonde-netsim: simulated networks in network namespaces, for sonde's own tests and for users'
//! CI.
//!
//! This first cut creates namespaces joined by veth pairs, with addresses, routes and a
//! per-namespace `resolv.conf`, and always removes them: when dropped, and — for a process
//! killed before it could drop them — the next time any netsim process starts (namespaces are
//! named after their owner's pid, and those of dead owners are removed).
//!
//! Addresses come from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8::/32), which are never routed anywhere: traffic stays inside the
//! namespaces this crate creates.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};

/// Prefix of every namespace this crate creates: `sonde-<owner pid>-<n>-<role>`.
pub const NETNS_PREFIX: &str = "sonde-";

/// Why netsim cannot run on this host, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    // The effective uid, from /proc (no libc call needed).
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u32>().ok());
    if euid != Some(0) {
        return Some("netsim needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces".to_owned());
    }
    if Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Some("netsim needs the `ip` command (Debian package iproute2)".to_owned());
    }
    None
}

/// For tests: returns `true` when netsim can run. When it cannot, prints a loud SKIP notice and
/// returns `false` — or panics when `SONDE_REQUIRE_NETSIM=1` (as in CI), so a skip can never
/// pass for a success there.
pub fn require_netsim(test: &str) -> bool {
    require(test, unavailable_reason())
}

/// For tests that need something this machine may lack (a browser, tmux, a Python module):
/// `true` when nothing is `missing`; else a loud SKIP notice and `false` — or a panic when
/// `SONDE_REQUIRE_NETSIM=1` (as in CI), so a skip can never pass for a success there.
pub fn require(test: &str, missing: Option<String>) -> bool {
    let Some(reason) = missing else {
        return true;
    };
    if std::env::var("SONDE_REQUIRE_NETSIM").is_ok_and(|v| v == "1") {
        panic!("{test}: SONDE_REQUIRE_NETSIM=1 but {reason}");
    }
    eprintln!("\n!!! SKIPPED {test}: {reason} (set SONDE_REQUIRE_NETSIM=1 to make this a failure)\n");
    false
}

/// A network namespace owned by this process; removed (with its `/etc/netns` directory) on
/// drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Netns {
    /// Creates a namespace for `role` (a short word: `dev`, `gw`), with loopback up.
    pub fn new(role: &str) -> anyhow::Result<Self> {
        remove_orphans();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NETNS_PREFIX}{}-{n}-{role}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> args…`.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command that runs `program` inside this namespace (`ip netns exec`, which also
    /// bind-mounts this namespace's `resolv.conf`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Writes the `resolv.conf` that programs run with [`Netns::command`] see.
    pub fn set_resolv_conf(&self, text: &str) -> anyhow::Result<()> {
        let dir = self.etc_dir();
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        fs::write(dir.join("resolv.conf"), text).with_context(|| format!("write {}/resolv.conf", dir.display()))
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result. Sockets
    /// created by `f` belong to the namespace (and stay there).
    pub fn run_inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let path = Path::new("/run/netns").join(&self.name);
        let handle = std::thread::spawn(move || -> anyhow::Result<T> {
            enter_netns(&path)?;
            Ok(f())
        });
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("the thread inside {} panicked", self.name))?
    }

    /// Where [`Netns::write_state`] puts `file`.
    pub fn state_file(&self, file: &str) -> PathBuf {
        state_dir(&self.name).join(file)
    }

    /// Writes `file` into this namespace's state directory, `/run/sonde-netsim/ns/<name>/`
    /// (removed with the namespace), and returns its path. Unlike `/etc/netns/<name>/`, nothing
    /// there is bind-mounted over `/etc` by `ip netns exec`.
    pub fn write_state(&self, file: &str, text: &str) -> anyhow::Result<PathBuf> {
        let dir = state_dir(&self.name);
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join(file);
        fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        Ok(path)
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_netns(&self.name);
    }
}

/// Joins two namespaces with a veth pair: `a_if` in `a`, `b_if` in `b`, both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> anyhow::Result<()> {
    run(Command::new("ip").args([
        "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ]))?;
    a.ip(&["link", "set", a_if, "up"])?;
    b.ip(&["link", "set", b_if, "up"])
}

/// Moves the calling thread into the network namespace at `path` (`setns(2)`); sockets it
/// creates afterwards belong to that namespace.
pub fn enter_thread(path: &Path) -> anyhow::Result<()> {
    enter_netns(path)
}

#[allow(unsafe_code)]
fn enter_netns(path: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let file = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    // SAFETY: `setns` takes a valid, open namespace fd (kept alive by `file` for the call) and
    // a constant flag; it only changes the calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!("setns {}: {}", path.display(), std::io::Error::last_os_error());
    }
    Ok(())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out: Output = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn delete_netns(name: &str) {
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
    let _ = fs::remove_dir_all(Path::new("/etc/netns").join(name));
    let _ = fs::remove_dir_all(state_dir(name));
}

fn state_dir(name: &str) -> PathBuf {
    Path::new("/run/sonde-netsim/ns").join(name)
}

/// Removes the namespaces of netsim processes that died without cleaning up (`kill -9`).
pub fn remove_orphans() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NETNS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            delete_netns(&name);
        }
    }
}
pub mod cli;
pub mod emulator;
pub mod network;
pub mod peers;
pub mod scenario;
mod signals;
