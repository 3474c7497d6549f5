//! The throughput and responsiveness checks against the real measurement server
//! (`sonde-backend`) over loopback: the data budget holds as the server counts it, both HTTP
//! versions move data, and progress carries live goodput.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sonde_agent::checks::ProgressSink;
use sonde_agent::checks::throughput::{
    CountedAt, HttpVersion, ResponsivenessThresholds, Stop, ThroughputOptions, ThroughputThresholds,
    evaluate_responsiveness, evaluate_throughput, measure_throughput,
};
use sonde_backend::measure::Measure;
use sonde_protocol::{CheckStatus, Metric};

/// Starts the backend on an ephemeral loopback port; returns its base URL and its counters.
async fn server() -> (String, Measure) {
    let measure = Measure::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = sonde_backend::app_with(measure.clone());
    tokio::spawn(sonde_backend::serve(listener, app, None, std::future::pending()));
    (format!("http://{addr}"), measure)
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(Instant, f64, Vec<Metric>)>>);

impl ProgressSink for Recorder {
    fn report(&self, fraction: f64, metrics: Vec<Metric>) {
        if let Ok(mut r) = self.0.lock() {
            r.push((Instant::now(), fraction, metrics));
        }
    }
}

fn options(server: &str) -> ThroughputOptions {
    ThroughputOptions {
        server: Some(server.to_owned()),
        max_duration: Duration::from_secs(3),
        max_streams: 4,
        idle_probes: 5,
        ..ThroughputOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_budget_holds_on_the_server_side() {
    let (url, measure) = server().await;
    let budget = 5_000_000;
    let options = ThroughputOptions {
        budget_bytes: Some(budget),
        ..options(&url)
    };
    let samples = measure_throughput(&options, &Recorder::default())
        .await
        .expect("measured");
    let (down, up) = measure.totals();
    assert!(
        down + up <= budget,
        "the server moved {down} + {up} bytes for a {budget} budget"
    );
    assert!(
        down + up >= budget * 9 / 10,
        "most of the budget was used: {down} + {up}"
    );
    let download = samples.download.as_ref().expect("download");
    let upload = samples.upload.as_ref().expect("upload");
    assert_eq!(download.stop, Stop::Budget, "{download:?}");
    assert_eq!(upload.stop, Stop::Budget, "{upload:?}");
    assert!(samples.bytes_total <= budget);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_http_versions_measure_goodput_and_latency_with_live_progress() {
    let (url, measure) = server().await;
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let recorder = Recorder::default();
        let options = ThroughputOptions { http, ..options(&url) };
        let started = Instant::now();
        let samples = measure_throughput(&options, &recorder).await.expect("measured");
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "{http:?}: capped per direction"
        );
        let download = samples.download.as_ref().expect("download");
        let upload = samples.upload.as_ref().expect("upload");
        eprintln!("{http:?}: idle {:?}\ndown {download:?}\nup {upload:?}", samples.idle);
        assert!(
            download.goodput_mbps.is_some_and(|g| g > 100.0),
            "{http:?}: {download:?}"
        );
        assert!(upload.goodput_mbps.is_some_and(|g| g > 100.0), "{http:?}: {upload:?}");
        // sonde's server reports what it received: the upload is counted there.
        assert_eq!(upload.counted_at, CountedAt::Receiver, "{http:?}: {upload:?}");
        assert!(upload.sender_goodput_mbps.is_some(), "{http:?}: {upload:?}");
        assert!(upload.window_ms >= 250, "{http:?}: {upload:?}");
        assert!(!download.loaded.connect_ms.is_empty(), "probes under load");
        if http == HttpVersion::Http2 {
            assert!(
                !download.loaded.self_ms.is_empty(),
                "self probes on loaded h2 connections"
            );
        }
        let e = evaluate_throughput(&samples, &ThroughputThresholds::default());
        assert_eq!(e.status, CheckStatus::Pass, "{e:?}");
        let e = evaluate_responsiveness(&samples, &ResponsivenessThresholds::default());
        assert!(
            e.metrics.iter().any(|m| m.name == "rpm" && m.value.as_f64().is_some()),
            "{e:?}"
        );
        // Progress: goodput at least 4 times a second while loading, fractions monotonic.
        let reports = recorder.0.lock().expect("reports").clone();
        let live: Vec<_> = reports
            .iter()
            .filter(|(_, _, m)| m.iter().any(|m| m.name == "download_mbps"))
            .collect();
        let span = live.last().map(|l| l.0).zip(live.first().map(|f| f.0));
        let per_second = span.map_or(0.0, |(l, f)| live.len() as f64 / (l - f).as_secs_f64().max(0.1));
        assert!(per_second >= 4.0, "{http:?}: {per_second} reports/s");
        assert!(reports.windows(2).all(|w| w[1].1 >= w[0].1), "monotonic");
        assert!(
            reports
                .iter()
                .any(|(_, _, m)| m.iter().any(|m| m.name == "loaded_rtt_ms"))
        );
    }
    let (down, up) = measure.totals();
    assert!(down > 0 && up > 0);
}

#[tokio::test]
async fn no_server_is_could_not_measure() {
    let options = ThroughputOptions {
        server: Some("http://127.0.0.1:9".to_owned()),
        timeout: Duration::from_millis(500),
        ..ThroughputOptions::default()
    };
    let err = measure_throughput(&options, &Recorder::default())
        .await
        .expect_err("nothing listens");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

/// A CA and a certificate it signs for 127.0.0.1: (the CA's PEM, the leaf chain's PEM, its key's PEM).
fn loopback_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf params");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
    (ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_server_is_measured_over_both_http_versions() {
    let (ca, cert, key) = loopback_certificate();
    let tls = sonde_backend::tls::server_config(cert.as_bytes(), key.as_bytes()).expect("server TLS");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = sonde_backend::app_with(Measure::new());
    tokio::spawn(sonde_backend::serve_tls(
        listener,
        app,
        None,
        Some(tls),
        std::future::pending(),
    ));
    let dir = std::env::temp_dir().join(format!("sonde-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).expect("CA file");
    let base = ThroughputOptions {
        max_duration: Duration::from_secs(2),
        ..options(&format!("https://{addr}"))
    };
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let options = ThroughputOptions {
            http,
            ca_file: Some(ca_file.clone()),
            ..base.clone()
        };
        let samples = measure_throughput(&options, &sonde_agent::checks::NoProgress)
            .await
            .expect("measured over https");
        assert!(samples.config_url.starts_with("https://"), "{samples:?}");
        for direction in [&samples.download, &samples.upload] {
            let d = direction.as_ref().expect("both directions");
            assert!(d.goodput_mbps.is_some_and(|g| g > 10.0), "{http:?}: {d:?}");
            assert_eq!(d.errors, 0, "{http:?}: {d:?}");
        }
        assert!(!samples.idle.connect_ms.is_empty(), "{http:?}: handshakes timed");
    }
    // Without the CA, the server is not trusted: the measurement cannot start.
    let untrusted = measure_throughput(&base, &sonde_agent::checks::NoProgress).await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
