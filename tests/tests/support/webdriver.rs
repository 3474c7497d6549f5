//! A small WebDriver client (W3C WebDriver: JSON over HTTP) for the browser test of the web page:
//! `chromedriver` and `chromium` run inside a test namespace, so every request to the driver is
//! made from a socket opened inside it (which reqwest cannot do: it opens its own sockets).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sonde_netsim::Netns;

use super::http_with;

/// The W3C name of the key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Why the browser test cannot run here, if it cannot: `chromium` or `chromedriver` missing.
pub fn unavailable_reason() -> Option<String> {
    for (program, package) in [("chromium", "chromium"), ("chromedriver", "chromium-driver")] {
        if which(program).is_none() {
            return Some(format!(
                "`{program}` is not installed (apt-get install {package}; scripts/install-test-deps.sh)"
            ));
        }
    }
    None
}

/// The path of `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// `chromedriver` running in a namespace; killed on drop.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
    ns: PathBuf,
}

impl Driver {
    /// Starts `chromedriver` inside `ns` on `port` of its loopback, and waits until it is ready.
    pub fn start(ns: &Netns, port: u16) -> Self {
        let child = ns
            .command("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ns: PathBuf::from("/run/netns").join(ns.name()),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = driver.call("GET", "/status", None)
                && status["ready"] == true
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver was not ready within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A headless Chromium session.
    pub fn session(&self) -> Session<'_> {
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": which("chromium").expect("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run", "--disable-extensions"],
            },
        }}});
        let value = self
            .call("POST", "/session", Some(&capabilities))
            .unwrap_or_else(|e| panic!("new session: {e}"));
        let id = value["sessionId"].as_str().expect("sessionId").to_owned();
        Session { driver: self, id }
    }

    /// One WebDriver command: its `value`, or the error it answered.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (addr, method_owned, path_owned) = (self.addr, method.to_owned(), path.to_owned());
        let body = body.map(Value::to_string);
        let ns = self.ns.clone();
        let answer = std::thread::spawn(move || {
            sonde_netsim::enter_thread(&ns).map_err(|e| e.to_string())?;
            http_with(
                addr,
                &method_owned,
                &path_owned,
                "",
                body.as_deref(),
                Duration::from_secs(60),
            )
            .map_err(|e| e.to_string())
        })
        .join()
        .map_err(|_| "the driver thread panicked".to_owned())??;
        let (status, text) = answer;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))?;
        if status == 200 {
            Ok(json["value"].clone())
        } else {
            Err(format!("{method} {path}: HTTP {status}: {}", json["value"]))
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session; closed on drop.
pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        self.driver.call(method, &path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Opens `url`.
    pub fn navigate(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The element matching the CSS `selector`, waiting up to 10 s for it.
    pub fn find(&self, selector: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let path = format!("/session/{}/element", self.id);
            let query = json!({"using": "css selector", "value": selector});
            match self.driver.call("POST", &path, Some(&query)) {
                Ok(element) => {
                    return element[ELEMENT_KEY]
                        .as_str()
                        .unwrap_or_else(|| panic!("not an element reference: {element}"))
                        .to_owned();
                }
                Err(e) => assert!(Instant::now() < deadline, "no element {selector}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element matching `selector`.
    pub fn click(&self, selector: &str) {
        let element = self.find(selector);
        self.call("POST", &format!("/element/{element}/click"), Some(&json!({})));
    }

    /// Types `text` into the element matching `selector`.
    pub fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        );
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub fn execute(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(&json!({"script": script, "args": []})))
    }

    /// Sets the page's viewport to `width`×`height` CSS pixels at one device pixel each (through
    /// Chromium's DevTools protocol: the window size of a headless browser is not its viewport).
    pub fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": params})),
        );
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let value = self.call("GET", "/screenshot", None);
        decode_base64(value.as_str().expect("base64 screenshot")).expect("valid base64")
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.driver.call("DELETE", &format!("/session/{}", self.id), None);
    }
}

/// The width and height in a PNG's header, if `bytes` is a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.get(..8)? != SIGNATURE || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let word = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    Some((word(16)?, word(20)?))
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[test]
fn base64_decodes_as_rfc_4648_says() {
    for (text, bytes) in [
        ("", &b""[..]),
        ("Zg==", b"f"),
        ("Zm8=", b"fo"),
        ("Zm9v", b"foo"),
        ("Zm9vYmFy", b"foobar"),
    ] {
        assert_eq!(decode_base64(text).as_deref(), Some(bytes), "{text}");
    }
    assert_eq!(decode_base64("Zm9v!"), None);
}
