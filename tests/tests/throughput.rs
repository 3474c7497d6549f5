//! The throughput and responsiveness checks on rate-limited links whose truth is exact: a
//! client and a server namespace joined through a router namespace, kernel htb on the router's
//! egress each way (the rate), a `bfifo` leaf (a byte-sized queue), and `sonde-backend`'s
//! measurement server on the far side.
//!
//! Ground truth: goodput G = rate × 1448/1514 (TCP payload per full Ethernet frame, as htb
//! counts frames on a veth); a full queue of L bytes delays by 8·L/rate.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use sonde_agent::checks::NoProgress;
use sonde_agent::checks::throughput::{
    self, CountedAt, ResponsivenessThresholds, ThroughputOptions, ThroughputSamples, evaluate_responsiveness,
    measure_throughput,
};
use sonde_backend::measure::Measure;
use sonde_netsim::{Netns, require_netsim, veth};

const SERVER: &str = "198.51.100.1";
const CLIENT: &str = "192.0.2.2";
const PORT: u16 = 8791;

/// A client, a router and a server namespace: the router shapes each way to `rate_mbit` with
/// `queue` bytes of `bfifo` on its egress (default: the interface's pfifo), as an access line's
/// bottleneck sits in the network, not in the sender. In the sender's own qdisc the queue's
/// truth would not hold: TCP small queues cap what each socket may keep in its own host's qdisc
/// (about two packets while its window is small), so a flow that started small never grew and
/// a 256 KiB queue stood at 64 ms, without a drop, for a whole run; and the sender's 64 KB
/// segmentation-offload units queued whole, so htb sent them in 26 ms bursts and probes behind
/// that steady queue read either 65 or 91 ms. The endpoints send one frame per packet
/// (`gso_max_segs 1`), as a wire carries them.
struct Bench {
    client: Netns,
    /// Held for its lifetime: dropping it removes the namespace.
    _router: Netns,
    server: Netns,
    measure: Measure,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bench {
    fn new(rate_mbit: u32, queue: Option<u32>) -> Self {
        let client = Netns::new("tpc").expect("client namespace");
        let router = Netns::new("tpr").expect("router namespace");
        let server = Netns::new("tps").expect("server namespace");
        veth(&client, "eth0", &router, "tocli").expect("veth");
        veth(&server, "eth0", &router, "tosrv").expect("veth");
        let (client_cidr, server_cidr) = (format!("{CLIENT}/24"), format!("{SERVER}/24"));
        for (ns, dev, cidr) in [
            (&client, "eth0", client_cidr.as_str()),
            (&router, "tocli", "192.0.2.254/24"),
            (&router, "tosrv", "198.51.100.254/24"),
            (&server, "eth0", server_cidr.as_str()),
        ] {
            ns.ip(&["addr", "add", cidr, "dev", dev]).expect("address");
        }
        let status = router
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1"])
            .status()
            .expect("sysctl");
        assert!(status.success(), "forwarding in {}", router.name());
        for dev in ["tocli", "tosrv"] {
            shape(&router, dev, rate_mbit, queue);
        }
        for (ns, peer, via) in [
            (&client, "198.51.100.0/24", "192.0.2.254"),
            (&server, "192.0.2.0/24", "198.51.100.254"),
        ] {
            ns.ip(&["link", "set", "eth0", "gso_max_segs", "1"])
                .expect("one frame per packet");
            // A loss-based congestion control, as most customer devices run: it fills the
            // bottleneck queue as real traffic does (BBR would keep it nearly empty). Set per
            // route: the namespace's sysctl may be read-only here.
            ns.ip(&["route", "replace", peer, "via", via, "dev", "eth0", "congctl", "cubic"])
                .expect("cubic route");
        }
        let measure = Measure::new();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let path = Path::new("/run/netns").join(server.name());
        let app = sonde_backend::app_with(measure.clone());
        let thread = std::thread::spawn(move || {
            sonde_netsim::enter_thread(&path).expect("enter the server namespace");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind((SERVER, PORT)).await.expect("bind");
                let _ = ready_tx.send(());
                let shutdown = async {
                    let _ = stopped.await;
                };
                let _ = sonde_backend::serve(listener, app, Some("cubic".to_owned()), shutdown).await;
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server started");
        Self {
            client,
            _router: router,
            server,
            measure,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn measure(&self, options: ThroughputOptions) -> ThroughputSamples {
        self.client
            .run_inside(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(measure_throughput(&options, &NoProgress))
            })
            .expect("inside the client")
            .expect("measured")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = self.server.name();
    }
}

/// htb at `rate_mbit` on `dev`'s egress, with a `bfifo` of `queue` bytes when given.
fn shape(ns: &Netns, dev: &str, rate_mbit: u32, queue: Option<u32>) {
    let rate = format!("{rate_mbit}mbit");
    let tc = |args: &[&str]| {
        let status = ns.command("tc").args(args).status().expect("tc");
        assert!(status.success(), "tc {args:?} in {}", ns.name());
    };
    tc(&[
        "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1",
    ]);
    tc(&[
        "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", &rate, "ceil", &rate, "quantum",
        "1514",
    ]);
    if let Some(limit) = queue {
        tc(&[
            "qdisc",
            "add",
            "dev",
            dev,
            "parent",
            "1:1",
            "handle",
            "10:",
            "bfifo",
            "limit",
            &limit.to_string(),
        ]);
    }
}

fn options() -> ThroughputOptions {
    ThroughputOptions {
        server: Some(format!("http://{SERVER}:{PORT}")),
        ..ThroughputOptions::default()
    }
}

/// The ground truth goodput of a link of `rate_mbit`.
fn truth(rate_mbit: u32) -> f64 {
    f64::from(rate_mbit) * 1448.0 / 1514.0
}

#[test]
fn goodput_on_a_50_mbit_line_is_within_one_percent_both_ways() {
    if !require_netsim("goodput_on_a_50_mbit_line_is_within_one_percent_both_ways") {
        return;
    }
    let bench = Bench::new(50, None);
    let samples = bench.measure(options());
    let g = truth(50);
    for (name, direction) in [("download", &samples.download), ("upload", &samples.upload)] {
        let d = direction.as_ref().expect(name);
        let goodput = d.goodput_mbps.expect("goodput");
        eprintln!("{name}: {goodput} Mbit/s (truth {g:.2}), {d:?}");
        // Both counted where iperf3 counts: at the receiver (the upload by sonde's server).
        assert_eq!(d.counted_at, CountedAt::Receiver, "{name}: {d:?}");
        assert!(
            (goodput - g).abs() / g <= 0.01,
            "{name}: {goodput} Mbit/s is more than 1 % from {g:.2}"
        );
        assert!(d.window_ms >= 2000, "{name}: window {} ms", d.window_ms);
    }
}

#[test]
fn a_data_budget_holds_on_a_200_mbit_line() {
    if !require_netsim("a_data_budget_holds_on_a_200_mbit_line") {
        return;
    }
    let bench = Bench::new(200, None);
    let budget = 5_000_000;
    let samples = bench.measure(ThroughputOptions {
        budget_bytes: Some(budget),
        ..options()
    });
    let (down, up) = bench.measure.totals();
    eprintln!("server counted {down} + {up} bytes; client {}", samples.bytes_total);
    assert!(down + up <= budget, "{down} + {up} > {budget}");
}

/// Loaded latency against 8·L/rate with a byte-limited queue on the download path.
fn bufferbloat(queue: u32) -> (f64, f64, String) {
    let rate = 20;
    let bench = Bench::new(rate, Some(queue));
    let samples = bench.measure(ThroughputOptions {
        upload: false,
        ..options()
    });
    let e = evaluate_responsiveness(&samples, &ResponsivenessThresholds::default());
    let number = |name: &str| e.metrics.iter().find(|m| m.name == name).and_then(|m| m.value.as_f64());
    let grade = e
        .metrics
        .iter()
        .find(|m| m.name == "bufferbloat_grade")
        .and_then(|m| m.value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let truth = 8.0 * f64::from(queue) / (f64::from(rate) * 1e6) * 1000.0;
    let loaded = number("loaded_latency_ms").expect("loaded latency");
    let d = samples.download.as_ref().expect("download");
    let (level, median) = (throughput::queue_level, throughput::median);
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    eprintln!(
        "queue {queue} B: loaded {loaded} ms (connect {} / median {}, http {} / median {}, {} probes, {} lost, \
         {} streams), truth {truth:.2} ms: {grade}",
        f(level(&d.loaded.connect_ms)),
        f(median(&d.loaded.connect_ms)),
        f(level(&d.loaded.http_ms)),
        f(median(&d.loaded.http_ms)),
        d.loaded.connect_ms.len(),
        d.loaded.lost,
        d.streams
    );
    (loaded, truth, grade)
}

#[test]
fn a_256_kb_queue_is_graded_bufferbloat_at_its_true_delay() {
    if !require_netsim("a_256_kb_queue_is_graded_bufferbloat_at_its_true_delay") {
        return;
    }
    let (loaded, truth, grade) = bufferbloat(256 * 1024);
    assert!((loaded - truth).abs() <= (truth * 0.05).max(2.0), "{loaded} vs {truth}");
    assert_eq!(grade, "bufferbloat");
}

#[test]
fn a_16_kb_queue_is_graded_good_at_its_true_delay() {
    if !require_netsim("a_16_kb_queue_is_graded_good_at_its_true_delay") {
        return;
    }
    let (loaded, truth, grade) = bufferbloat(16 * 1024);
    assert!((loaded - truth).abs() <= (truth * 0.05).max(2.0), "{loaded} vs {truth}");
    assert_eq!(grade, "good");
}

/// The plans' time budgets on a healthy simulated 50 Mbit/s line (scenario `healthy-50m`): the
/// whole "it's slow" plan — latency, DNS, web, path, goodput both ways, latency under load —
/// in at most 20 s, "no Internet" in at most 5 s, each timed around the `sonde` process.
#[test]
fn plans_finish_within_their_budgets_on_a_healthy_line() {
    if !require_netsim("plans_finish_within_their_budgets_on_a_healthy_line") {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/healthy-50m.toml");
    let scenario = sonde_netsim::scenario::Scenario::load(&path).expect("scenario");
    let network = sonde_netsim::network::Network::up(&scenario).expect("network up");
    for (problem, budget) in [
        ("slow", Duration::from_secs(20)),
        ("no-internet", Duration::from_secs(5)),
    ] {
        let outcome = crate::support::sonde(&network.device, &["diagnose", "--json", "--problem", problem]);
        let report = outcome.report();
        assert!(
            report.diagnosis.as_ref().is_some_and(|d| d.healthy),
            "{problem}: {}",
            outcome.stdout
        );
        eprintln!("{problem} plan: {:.1} s", outcome.elapsed.as_secs_f64());
        assert!(
            outcome.elapsed <= budget,
            "{problem} plan took {:?} (budget {budget:?})",
            outcome.elapsed
        );
    }
    let (sent, received) = network.speedtest().expect("speedtest peer").totals();
    assert!(
        sent > 10_000_000 && received > 10_000_000,
        "the speed test ran: {sent} / {received} bytes"
    );
}
