//! The forwarder threads of one emulated link: per direction, a reader that takes packets from
//! one TUN and asks the model what to do, and a writer that releases delayed packets into the
//! other TUN on time.
//!
//! Timing: the writer sleeps on a condition variable until shortly before a packet is due, then
//! spins the last stretch, so release times are accurate to a few microseconds rather than the
//! millisecond granularity of ordinary timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::model::{Counters, Direction, Impairment, Verdict};
use super::tun::Tun;

/// Largest packet read from a TUN (its MTU is at most this).
const MAX_PACKET: usize = 65_536;
/// The writer wakes this long before a packet is due and spins the rest.
const SPIN_NS: u64 = 200_000;
/// How often idle threads look at the stop flag.
const IDLE_POLL_MS: i32 = 100;

/// One emulated link: two TUN devices and the threads between them.
#[derive(Debug)]
pub struct EmulatedLink {
    stop: Arc<AtomicBool>,
    forward: Arc<Half>,
    backward: Arc<Half>,
    threads: Vec<JoinHandle<()>>,
}

/// What one direction has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// The model's counters.
    pub counters: Counters,
    /// IP bytes delivered (duplicates included).
    pub bytes_out: u64,
    /// Packets that could not be written out (the far TUN was gone or full).
    pub write_errors: u64,
}

/// One direction: the model, the delay line, and counters.
#[derive(Debug)]
struct Half {
    model: Mutex<Direction>,
    line: Mutex<BinaryHeap<Reverse<Pending>>>,
    due: Condvar,
    bytes_out: AtomicU64,
    write_errors: AtomicU64,
    /// Source address for ICMP errors this direction sends back (the far end's address).
    icmp_source_v4: Option<std::net::Ipv4Addr>,
    icmp_source_v6: Option<std::net::Ipv6Addr>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    release_ns: u64,
    order: u64,
    packet: Vec<u8>,
}

impl EmulatedLink {
    /// Starts forwarding between `a` and `b`: packets read from `a` go out of `b` with
    /// `a_to_b` applied, and the reverse. `a_addrs`/`b_addrs` are each side's addresses, used
    /// as the source of ICMP errors the link sends (e.g. "fragmentation needed").
    pub fn start(
        a: Tun,
        b: Tun,
        a_to_b: Impairment,
        b_to_a: Impairment,
        a_addrs: &[IpAddr],
        b_addrs: &[IpAddr],
        seed: u64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (a, b) = (Arc::new(a), Arc::new(b));
        let forward = Arc::new(Half::new(Direction::new(a_to_b, seed), b_addrs));
        let backward = Arc::new(Half::new(Direction::new(b_to_a, seed ^ 0x5EED_0000_0000_0001), a_addrs));
        let clock = Instant::now();
        let mut threads = Vec::new();
        for (half, from, to) in [(&forward, &a, &b), (&backward, &b, &a)] {
            let (h, f, t, s) = (half.clone(), from.clone(), to.clone(), stop.clone());
            threads.push(std::thread::spawn(move || read_loop(&h, &f, &t, &s, clock)));
            let (h, t, s) = (half.clone(), to.clone(), stop.clone());
            threads.push(std::thread::spawn(move || write_loop(&h, &t, &s, clock)));
        }
        Self {
            stop,
            forward,
            backward,
            threads,
        }
    }

    /// Changes the impairments while the link runs.
    pub fn set(&self, a_to_b: Impairment, b_to_a: Impairment) {
        self.forward.model().set_impairment(a_to_b);
        self.backward.model().set_impairment(b_to_a);
        // A shorter delay may make queued packets due sooner: wake the writers.
        self.forward.due.notify_all();
        self.backward.due.notify_all();
    }

    /// The current impairments (a→b, b→a).
    pub fn impairments(&self) -> (Impairment, Impairment) {
        (
            self.forward.model().impairment().clone(),
            self.backward.model().impairment().clone(),
        )
    }

    /// Counters (a→b, b→a).
    pub fn stats(&self) -> (LinkStats, LinkStats) {
        (self.forward.stats(), self.backward.stats())
    }
}

impl Drop for EmulatedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.forward.due.notify_all();
        self.backward.due.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Half {
    fn new(model: Direction, far_addrs: &[IpAddr]) -> Self {
        Self {
            model: Mutex::new(model),
            line: Mutex::new(BinaryHeap::new()),
            due: Condvar::new(),
            bytes_out: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            icmp_source_v4: far_addrs.iter().find_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            }),
            icmp_source_v6: far_addrs.iter().find_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            }),
        }
    }

    fn model(&self) -> MutexGuard<'_, Direction> {
        // The model holds plain numbers; a panic elsewhere cannot leave it half-updated in a
        // way that matters.
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn line(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Pending>>> {
        self.line.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stats(&self) -> LinkStats {
        LinkStats {
            counters: self.model().counters(),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }

    fn deliver(&self, to: &Tun, packet: &[u8]) {
        match to.send(packet) {
            Ok(n) => {
                self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn now_ns(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn read_loop(half: &Half, from: &Tun, to: &Tun, stop: &AtomicBool, clock: Instant) {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut order = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match from.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let _ = from.wait_readable(IDLE_POLL_MS);
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // The device is gone (namespace deleted): nothing more to forward.
            Err(_) => return,
        };
        let packet = &buf[..n];
        let now = now_ns(clock);
        let (verdict, passthrough) = {
            let mut model = half.model();
            (model.on_packet(now, n), model.is_passthrough())
        };
        match verdict {
            Verdict::Drop(_) => {}
            Verdict::TooBig { mtu } => {
                if let Some(icmp) = super::icmp::too_big(packet, mtu, half.icmp_source_v4, half.icmp_source_v6) {
                    // Back out of the interface the packet came in on.
                    let _ = from.send(&icmp);
                }
            }
            Verdict::Forward { release_ns, copies } => {
                let line_empty = passthrough && half.line().is_empty();
                if line_empty && release_ns <= now {
                    for _ in 0..copies {
                        half.deliver(to, packet);
                    }
                } else {
                    let mut line = half.line();
                    for _ in 0..copies {
                        order += 1;
                        line.push(Reverse(Pending {
                            release_ns,
                            order,
                            packet: packet.to_vec(),
                        }));
                    }
                    drop(line);
                    half.due.notify_one();
                }
            }
        }
    }
}

fn write_loop(half: &Half, to: &Tun, stop: &AtomicBool, clock: Instant) {
    loop {
        let mut line = half.line();
        let wait = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match line.peek() {
                None => {
                    line = half
                        .due
                        .wait_timeout(line, Duration::from_millis(IDLE_POLL_MS as u64))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                Some(Reverse(head)) => {
                    let now = now_ns(clock);
                    if head.release_ns <= now {
                        break None;
                    }
                    let left = head.release_ns - now;
                    if left <= SPIN_NS {
                        break Some(head.release_ns);
                    }
                    line = half
                        .due
                        .wait_timeout(line, Duration::from_nanos(left - SPIN_NS))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        };
        if let Some(release_ns) = wait {
            // Spin the last stretch without holding the lock, so the reader can queue meanwhile.
            drop(line);
            while now_ns(clock) < release_ns {
                std::hint::spin_loop();
            }
            continue;
        }
        // Send everything that is due, outside the lock.
        let now = now_ns(clock);
        let mut due = Vec::new();
        while line.peek().is_some_and(|Reverse(p)| p.release_ns <= now) {
            if let Some(Reverse(p)) = line.pop() {
                due.push(p.packet);
            }
        }
        drop(line);
        for packet in due {
            half.deliver(to, &packet);
        }
    }
}
