//! `sonde dns`: queries one resolver with the `dns` check's own query path
//! ([`sonde_agent::checks::dns::DnsProber`]) and prints each query's latency, then statistics.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sonde_agent::checks::dns::{DnsOutcome, DnsProber, RecordKind, check_query_name, parse_resolv_conf};

use crate::{EXIT_COULD_NOT_RUN, EXIT_HEALTHY, EXIT_PROBLEM};

/// Arguments of `sonde dns`.
#[derive(Debug, Parser)]
pub struct DnsArgs {
    /// The name to ask for (taken as absolute: no search domain is appended).
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// The resolver: IP, IP:PORT or [IPv6]:PORT (port 53 by default). Default: the first
    /// `nameserver` of /etc/resolv.conf.
    #[arg(long, short = 's', value_name = "IP[:PORT]", value_parser = parse_server)]
    pub server: Option<SocketAddr>,
    /// Queries to send, one after the other.
    #[arg(long, short = 'c', default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,
    /// Time from one query's start to the next one's, in milliseconds (a query still waiting
    /// for its answer delays the next one; 0 sends them back to back).
    #[arg(long, short = 'i', default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub interval_ms: u64,
    /// The record type to ask for.
    #[arg(long = "type", short = 't', value_enum, default_value = "a", ignore_case = true)]
    pub record_type: TypeArg,
    /// How long each query waits for its answer, in milliseconds.
    #[arg(long, short = 'W', default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=30_000))]
    pub timeout_ms: u64,
}

/// `--type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl From<TypeArg> for RecordKind {
    fn from(t: TypeArg) -> Self {
        match t {
            TypeArg::A => RecordKind::A,
            TypeArg::Aaaa => RecordKind::Aaaa,
        }
    }
}

/// The resolver configuration read when `--server` is not given.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Runs `sonde dns`; returns the exit status: 0 when at least one query got an answer
/// (records, NXDOMAIN or NODATA), 1 when none did, 2 when it could not run.
pub async fn dns(args: &DnsArgs) -> u8 {
    let server = match args.server {
        Some(server) => server,
        None => match system_resolver(Path::new(RESOLV_CONF)) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("sonde: {e}; give one with --server IP[:PORT]");
                return EXIT_COULD_NOT_RUN;
            }
        },
    };
    let prober = DnsProber::new(server, Duration::from_millis(args.timeout_ms));
    let record_type = RecordKind::from(args.record_type);
    let interval = Duration::from_millis(args.interval_ms);
    let mut out = std::io::stdout().lock();
    let mut latencies_us: Vec<u64> = Vec::new();
    let mut answered = 0u32;
    let start = tokio::time::Instant::now();
    for seq in 1..=args.count {
        // Paced from the first query's start, so a slow answer does not shift the rest.
        tokio::time::sleep_until(start + interval * (seq - 1)).await;
        let query = prober.query(&args.name, record_type).await;
        if query.outcome.is_answer() {
            answered += 1;
        }
        let time = query
            .latency_us
            .map_or_else(String::new, |us| format!(" time={}", format_ms(us)));
        let _ = writeln!(
            out,
            "{} {record_type} @{server}: seq={seq} {}{time}",
            query.name,
            describe(&query.outcome)
        );
        latencies_us.extend(query.latency_us);
    }
    latencies_us.sort_unstable();
    let stat = |us: Option<&u64>| us.map_or_else(|| "-".to_owned(), |us| format_ms(*us).replace(" ms", ""));
    let _ = writeln!(
        out,
        "{} sent, {answered} answered, {} responses; latency min/median/max = {}/{}/{} ms",
        args.count,
        latencies_us.len(),
        stat(latencies_us.first()),
        stat(median_us(&latencies_us).as_ref()),
        stat(latencies_us.last()),
    );
    if answered == 0 { EXIT_PROBLEM } else { EXIT_HEALTHY }
}

/// "0.123 ms": microseconds shown in milliseconds, to the microsecond.
fn format_ms(us: u64) -> String {
    format!("{}.{:03} ms", us / 1000, us % 1000)
}

/// The median of sorted values (the lower middle one for an even count, so it is a measured
/// value at microsecond precision).
fn median_us(sorted: &[u64]) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    sorted.get((sorted.len() - 1) / 2).copied()
}

fn describe(outcome: &DnsOutcome) -> String {
    match outcome {
        DnsOutcome::Answer(1) => "answer (1 record)".to_owned(),
        DnsOutcome::Answer(n) => format!("answer ({n} records)"),
        DnsOutcome::Unreachable(detail) | DnsOutcome::Failed(detail) => {
            format!("{} ({detail})", outcome.label())
        }
        other => other.label().to_owned(),
    }
}

/// The first `nameserver` of a resolv.conf, on port 53.
fn system_resolver(path: &Path) -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_resolv_conf(&text)
        .first()
        .map(|ip| SocketAddr::new(*ip, 53))
        .ok_or_else(|| format!("no nameserver in {}", path.display()))
}

fn parse_name(text: &str) -> Result<String, String> {
    check_query_name(text).map(|()| text.to_owned())
}

/// IP (port 53), IP:PORT, or [IPv6]:PORT.
fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => Err("port 0 cannot be queried".to_owned()),
        Err(_) => Err(format!(
            "`{text}` is not an IP address or IP:PORT (e.g. 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> Result<DnsArgs, clap::Error> {
        let argv = ["sonde", "dns"].iter().chain(args).copied();
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Dns(args) => args,
            other => panic!("parsed as {other:?}"),
        })
    }

    #[test]
    fn arguments_and_defaults() {
        let args = parse(&["www.example.com", "--server", "192.0.2.53"]).expect("valid");
        assert_eq!(args.name, "www.example.com");
        assert_eq!(args.server, Some("192.0.2.53:53".parse().expect("addr")));
        assert_eq!((args.count, args.interval_ms, args.timeout_ms), (10, 200, 1000));
        assert_eq!(args.record_type, TypeArg::A);

        let args = parse(&[
            "example.com.",
            "-s",
            "[2001:db8::53]:5353",
            "-c",
            "5",
            "-i",
            "0",
            "--type",
            "AAAA",
        ])
        .expect("valid");
        assert_eq!(args.server, Some("[2001:db8::53]:5353".parse().expect("addr")));
        assert_eq!((args.count, args.interval_ms), (5, 0));
        assert_eq!(args.record_type, TypeArg::Aaaa);
        assert_eq!(parse(&["x.test", "-t", "aaaa"]).expect("valid").server, None);
    }

    /// Bad input is a usage error: clap prints it and `main` exits 2 (`use_stderr`).
    #[test]
    fn argument_errors_say_what_is_wrong() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "<NAME>"),
            (&["a..b", "-s", "192.0.2.53"], "empty label"),
            (&["exa mple.com"], "spaces"),
            (
                &["example.com", "--server", "dns.example"],
                "not an IP address or IP:PORT",
            ),
            (&["example.com", "--server", "192.0.2.53:0"], "port 0"),
            (&["example.com", "--server", "192.0.2.53:99999"], "not an IP address"),
            (&["example.com", "-c", "0"], "0"),
            (&["example.com", "-c", "many"], "many"),
            (&["example.com", "-i", "-5"], "-5"),
            (&["example.com", "-W", "5"], "5"),
            (&["example.com", "--type", "MX"], "MX"),
        ];
        for (args, hint) in cases {
            let error = parse(args).expect_err(&format!("{args:?} is rejected"));
            assert!(error.use_stderr(), "{args:?}: goes to stderr, exit 2");
            assert_ne!(error.kind(), ErrorKind::DisplayHelp, "{args:?}");
            let text = error.to_string();
            assert!(text.contains(hint), "{args:?}: {text}");
        }
    }

    #[test]
    fn latencies_print_to_the_microsecond() {
        assert_eq!(format_ms(0), "0.000 ms");
        assert_eq!(format_ms(42), "0.042 ms");
        assert_eq!(format_ms(10_204), "10.204 ms");
        assert_eq!(median_us(&[]), None);
        assert_eq!(median_us(&[5]), Some(5));
        assert_eq!(median_us(&[1, 2, 3, 4]), Some(2));
        assert_eq!(median_us(&[1, 2, 3]), Some(2));
    }

    #[test]
    fn outcomes_read_plainly() {
        assert_eq!(describe(&DnsOutcome::Answer(1)), "answer (1 record)");
        assert_eq!(describe(&DnsOutcome::Answer(2)), "answer (2 records)");
        assert_eq!(describe(&DnsOutcome::NxDomain), "nxdomain");
        assert_eq!(describe(&DnsOutcome::Failed("odd".into())), "failed (odd)");
    }

    #[test]
    fn the_system_resolver_is_the_first_nameserver() {
        let dir = std::env::temp_dir().join(format!("sonde-dns-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("resolv.conf");
        std::fs::write(&path, "search lan\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n").expect("write");
        assert_eq!(system_resolver(&path), Ok("192.0.2.1:53".parse().expect("addr")));
        std::fs::write(&path, "search lan\n").expect("write");
        assert!(system_resolver(&path).expect_err("none").contains("no nameserver"));
        let _ = std::fs::remove_dir_all(&dir);
        let missing = system_resolver(Path::new("/nonexistent/sonde/resolv.conf")).expect_err("missing");
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
