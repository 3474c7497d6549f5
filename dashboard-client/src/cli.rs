//! Arguments and the `diagnose` and `ping` commands (`dns` is in its own module).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use sonde_agent::EventSink;
use sonde_agent::config::Config;
use sonde_protocol::{
    Event, EventData, FindingCode, Lang, LineKind, LineUnderTest, ProblemKind, RunOptions, RunReport, RunRequest,
    RunState,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::render::Presenter;
use crate::{EXIT_COULD_NOT_RUN, EXIT_HEALTHY, EXIT_PROBLEM, remote};
use sonde_agent::texts::texts;

/// sonde: find out what is wrong with a network connection, and whose side it is on.
#[derive(Debug, Parser)]
#[command(name = "sonde", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose the connection: run the checks, explain what is wrong and what to do.
    Diagnose(DiagnoseArgs),
    /// Ping addresses with the agent's own ICMP prober (the gateway and latency checks'): one
    /// line per probe (or per target with `-q`), then loss and RTT statistics. Many targets
    /// (a sweep) go through one socket per address family.
    Ping(PingArgs),
    /// Query one resolver with the agent's own DNS query path (the dns check's): one line per
    /// query with its latency to the microsecond, then min/median/max.
    Dns(crate::dns::DnsArgs),
    /// List past runs, newest first: id, start, problem, outcome and top finding (this machine's
    /// own, or a daemon's with a technician token).
    History(crate::history::HistoryArgs),
    /// Show one past run's report (as `sonde diagnose` printed it, or its JSON).
    Show(crate::history::ShowArgs),
    /// The technician's live dashboard (a terminal UI): start runs by problem or one check
    /// alone, watch RTT, loss, DNS latency, throughput and WiFi signal live, read the findings
    /// with their evidence and the run history. Keys: see docs/dashboard.md.
    Dashboard(crate::dashboard::DashboardArgs),
    /// Print a shell completion script for sonde (e.g. `sonde completions bash >
    /// /etc/bash_completion.d/sonde`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print sonde's manual page (roff; e.g. `sonde man | man -l -`).
    Man,
}

/// Where a run happens or is read from: a `sonded` daemon, or this process.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// Use the sonded daemon at this URL (e.g. http://127.0.0.1:8790) instead of the agent
    /// embedded in sonde.
    #[arg(long, value_name = "URL")]
    pub agent: Option<String>,
    /// The bearer token sonded gave this client's role (customer or technician); also read
    /// from `SONDE_TOKEN`. Not needed on sonded's own machine without configured tokens.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SONDE_TOKEN",
        hide_env_values = true,
        requires = "agent"
    )]
    pub token: Option<String>,
}

/// Arguments of `sonde ping`.
#[derive(Debug, Parser)]
pub struct PingArgs {
    /// The addresses to probe (IPv4 or IPv6).
    pub targets: Vec<std::net::IpAddr>,
    /// Read more addresses from this file, one per line (`#` starts a comment; `-`: stdin).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Echo requests to send to each target.
    #[arg(long, short = 'c', default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,
    /// Interval between requests to the same target, in milliseconds (requests do not wait
    /// for replies).
    #[arg(long, short = 'i', default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub interval_ms: u64,
    /// Time between requests to successive targets, in milliseconds (fping's -i); 0 sends each
    /// round as fast as the kernel takes it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub spacing_ms: u64,
    /// How long each request waits for its reply, in milliseconds.
    #[arg(long, short = 'W', default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: u64,
    /// One summary line per target instead of one line per probe.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The most targets one `sonde ping` probes (a /16 and then some).
pub const MAX_PING_TARGETS: usize = 100_000;

/// Arguments of `sonde diagnose`.
#[derive(Debug, Parser)]
pub struct DiagnoseArgs {
    /// The nature of the problem; it selects the checks. Asked on a terminal; otherwise
    /// no-internet.
    #[arg(long, value_enum)]
    pub problem: Option<Problem>,
    /// The line to test: the box's Internet access or mobile data. Asked on a terminal (the
    /// agent's own line first: mobile when its profile is 4g or 5g or a modem is configured).
    #[arg(long, value_enum)]
    pub line: Option<LineArg>,
    /// The line's identifier as the customer knows it: Internet account or mobile number
    /// (asked on a terminal). A ticket names it.
    #[arg(long, value_name = "ID")]
    pub line_id: Option<String>,
    /// Where the ticket confirmation SMS goes (a phone number), should the operator have to act.
    #[arg(long, value_name = "PHONE")]
    pub contact: Option<String>,
    /// Print the technical details (findings' evidence, every check) after the diagnosis on a
    /// terminal too; there, without it, they are one keypress away. Output that is not a
    /// terminal always has them.
    #[arg(long)]
    pub evidence: bool,
    /// The threshold profile to judge with: default, ftth, vdsl2, adsl, 4g, 5g (default: the
    /// configured one).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The daemon to run on, if any.
    #[command(flatten)]
    pub remote: AgentArgs,
    /// Configuration file (TOML), shared with sonded. Default: $SONDE_CONFIG, else
    /// /etc/sonde/sonded.toml if it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON on stdout: the final report (`--json`), or the event stream as JSON lines
    /// (`--json=events`).
    #[arg(long, value_enum, value_name = "WHAT", num_args = 0..=1, require_equals = true, default_missing_value = "report")]
    pub json: Option<JsonMode>,
    /// Also write the report as a JUnit XML file (one test case per check, plus the diagnosis;
    /// see docs/ci.md).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Exit 1 unless the diagnosis matches: `healthy`, or finding codes (comma-separated) that
    /// must all be present.
    #[arg(long, value_name = "healthy|CODE[,CODE]")]
    pub expect: Option<Expect>,
    /// Language of the texts.
    #[arg(long, value_enum, default_value = "fr")]
    pub lang: LangArg,
    /// Do not ask anything (implied when stdin is not a terminal); with `--problem mobile`,
    /// confirms the remediation action the diagnosis may propose (reconnect the data session).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Refuse every remediation action: the run only proposes them.
    #[arg(long, conflicts_with = "yes")]
    pub no_actions: bool,
    /// Perform this remediation action once the checks have run, whatever the diagnosis says,
    /// then re-test and compare (e.g. reconnect_data_session; the agent's list: GET
    /// /v1/actions). Giving it is the confirmation. The problem defaults to mobile.
    #[arg(long, value_name = "NAME", conflicts_with = "no_actions")]
    pub action: Option<String>,
}

/// What `--json` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JsonMode {
    /// The final report.
    Report,
    /// Every event, one JSON object per line, as it happens.
    Events,
}

/// `--problem` values (the names of `ProblemKind` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Problem {
    /// No Internet at all.
    NoInternet,
    /// Internet is slow.
    Slow,
    /// WiFi drops.
    Wifi,
    /// Some sites or apps fail.
    Sites,
    /// Phone calls or TV break up.
    VoipTv,
    /// Mobile data.
    Mobile,
}

impl From<Problem> for ProblemKind {
    fn from(p: Problem) -> Self {
        match p {
            Problem::NoInternet => ProblemKind::NoInternet,
            Problem::Slow => ProblemKind::Slow,
            Problem::Wifi => ProblemKind::Wifi,
            Problem::Sites => ProblemKind::Sites,
            Problem::VoipTv => ProblemKind::VoipTv,
            Problem::Mobile => ProblemKind::Mobile,
        }
    }
}

/// `--line` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LineArg {
    /// The box's Internet access (FTTH, VDSL2, ADSL).
    Box,
    /// Mobile data (4G, 5G).
    Mobile,
}

impl From<LineArg> for LineKind {
    fn from(l: LineArg) -> Self {
        match l {
            LineArg::Box => LineKind::Box,
            LineArg::Mobile => LineKind::Mobile,
        }
    }
}

/// `--lang` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    /// Français.
    Fr,
    /// English.
    En,
}

impl From<LangArg> for Lang {
    fn from(l: LangArg) -> Self {
        match l {
            LangArg::Fr => Lang::Fr,
            LangArg::En => Lang::En,
        }
    }
}

/// `--expect`: what the diagnosis must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No finding above `info`.
    Healthy,
    /// Each of these codes among the findings.
    Codes(Vec<FindingCode>),
}

impl FromStr for Expect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("healthy") {
            return Ok(Expect::Healthy);
        }
        let codes = s
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| c.to_ascii_uppercase().parse::<FindingCode>())
            .collect::<Result<Vec<_>, _>>()?;
        if codes.is_empty() {
            return Err("expected `healthy` or finding codes such as GATEWAY_UNREACHABLE".to_owned());
        }
        Ok(Expect::Codes(codes))
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Healthy => f.write_str("healthy"),
            Expect::Codes(codes) => {
                let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
                f.write_str(&codes.join(","))
            }
        }
    }
}

impl Expect {
    /// Whether `report` meets this expectation.
    pub fn holds(&self, report: &RunReport) -> bool {
        let Some(diagnosis) = &report.diagnosis else {
            return false;
        };
        match self {
            Expect::Healthy => diagnosis.healthy,
            Expect::Codes(codes) => codes.iter().all(|c| diagnosis.findings.iter().any(|f| f.code == *c)),
        }
    }
}

/// Runs a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Diagnose(args) => match diagnose(args).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("sonde: {e:#}");
                EXIT_COULD_NOT_RUN
            }
        },
        Command::Ping(args) => ping(&args).await,
        Command::Dns(args) => crate::dns::dns(&args).await,
        Command::History(args) => report_failure("history", crate::history::history(&args).await),
        Command::Show(args) => report_failure("show", crate::history::show(&args).await),
        Command::Dashboard(args) => report_failure("dashboard", crate::dashboard::dashboard(&args).await),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "sonde", &mut std::io::stdout());
            EXIT_HEALTHY
        }
        Command::Man => report_failure("man", man_page(&mut std::io::stdout())),
    }
}

/// The manual page, in roff, generated from the argument definitions.
pub fn man_page(out: &mut dyn Write) -> anyhow::Result<()> {
    let command = <Cli as clap::CommandFactory>::command();
    clap_mangen::Man::new(command)
        .render(out)
        .context("cannot write the manual page")
}

/// Exit status 0 for success; the error on stderr and exit status 2 otherwise.
fn report_failure(command: &str, outcome: anyhow::Result<()>) -> u8 {
    match outcome {
        Ok(()) => EXIT_HEALTHY,
        Err(e) => {
            eprintln!("sonde {command}: {e:#}");
            EXIT_COULD_NOT_RUN
        }
    }
}

async fn ping(args: &PingArgs) -> u8 {
    use sonde_agent::checks::gateway::ping_stats;
    use sonde_agent::checks::ping::{Schedule, ping};
    let targets = match ping_targets(args) {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("sonde ping: {e:#}");
            return EXIT_COULD_NOT_RUN;
        }
    };
    let schedule = Schedule {
        count: args.count,
        interval: std::time::Duration::from_millis(args.interval_ms),
        spacing: std::time::Duration::from_millis(args.spacing_ms),
        timeout: std::time::Duration::from_millis(args.timeout_ms),
    };
    let started = std::time::Instant::now();
    let results = ping(&targets, None, &schedule, &sonde_agent::checks::NoProgress).await;
    let wall = started.elapsed();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut sent, mut received, mut silent, mut failed) = (0, 0, 0, 0);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    for (target, result) in targets.iter().zip(&results) {
        let samples = match result {
            Ok(samples) => samples,
            Err(e) => {
                eprintln!("sonde: cannot ping {target}: {e}");
                failed += 1;
                continue;
            }
        };
        if !args.quiet {
            for probe in &samples.probes {
                let _ = match (probe.rtt_us, &probe.error) {
                    (Some(us), _) => writeln!(out, "{target}: seq={} time={:.3} ms", probe.seq, us as f64 / 1000.0),
                    (None, Some(error)) => writeln!(out, "{target}: seq={} lost ({error})", probe.seq),
                    (None, None) => writeln!(out, "{target}: seq={} lost (timeout)", probe.seq),
                };
            }
        }
        let stats = ping_stats(samples);
        sent += stats.sent;
        received += stats.received;
        if stats.received == 0 {
            silent += 1;
        }
        if args.quiet || targets.len() == 1 {
            let _ = writeln!(
                out,
                "{target}: {} sent, {} received, {} % loss; rtt min/median/p95/max = {}/{}/{}/{} ms, jitter {} ms",
                stats.sent,
                stats.received,
                stats.loss_percent.map_or_else(|| "-".to_owned(), |l| format!("{l:.1}")),
                ms(stats.rtt_min_ms),
                ms(stats.rtt_median_ms),
                ms(stats.rtt_p95_ms),
                ms(stats.rtt_max_ms),
                ms(stats.jitter_ms)
            );
        }
    }
    if targets.len() > 1 {
        let _ = writeln!(
            out,
            "{} targets: {sent} sent, {received} received, {silent} silent, {failed} not probed; {:.1} ms",
            targets.len(),
            wall.as_secs_f64() * 1000.0
        );
    }
    let _ = out.flush();
    if failed == targets.len() {
        EXIT_COULD_NOT_RUN
    } else if silent > 0 || failed > 0 {
        EXIT_PROBLEM
    } else {
        EXIT_HEALTHY
    }
}

/// Whether the run may perform the remediation action its diagnosis proposes: only on the
/// mobile flow, never with `--no-actions`, always with `--yes`, else the user's answer on a
/// terminal (asked before the run, so the run itself is never left waiting).
fn confirm_actions(args: &DiagnoseArgs, problem: ProblemKind, lang: Lang) -> bool {
    // `--action` is its own confirmation: nothing more to ask.
    if args.no_actions || args.action.is_some() || problem != ProblemKind::Mobile {
        return false;
    }
    if args.yes {
        return true;
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    let question = match lang {
        Lang::En => {
            "If the diagnosis points at the mobile data session, reconnect it (reconnect_data_session) and re-test? [y/N] "
        }
        _ => {
            "Si le diagnostic met en cause la session de données mobiles, la reconnecter (reconnect_data_session) et refaire le test ? [o/N] "
        }
    };
    eprint!("{question}");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes" | "o" | "oui")
}

/// The targets of `sonde ping`: the arguments, then the file's lines.
fn ping_targets(args: &PingArgs) -> anyhow::Result<Vec<std::net::IpAddr>> {
    let mut targets = args.targets.clone();
    if let Some(path) = &args.file {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading targets from stdin")?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading targets from {}", path.display()))?
        };
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let target = line
                .parse()
                .with_context(|| format!("{}:{}: not an IP address: {line:?}", path.display(), number + 1))?;
            targets.push(target);
        }
    }
    anyhow::ensure!(!targets.is_empty(), "no target: give addresses, or a file with -f");
    anyhow::ensure!(
        targets.len() <= MAX_PING_TARGETS,
        "{} targets: at most {MAX_PING_TARGETS} at once",
        targets.len()
    );
    Ok(targets)
}

async fn diagnose(args: DiagnoseArgs) -> anyhow::Result<u8> {
    let lang = Lang::from(args.lang);
    if let Some(path) = &args.junit {
        check_writable_file(path)?;
    }
    let config = Config::discover(args.config.as_deref())?;
    // The guided flow asks what the flags did not say, only of a person at a terminal.
    let guided = !args.yes && args.json.is_none() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (line, problem) = if guided {
        let mut input = std::io::stdin().lock();
        let mut output = std::io::stdout();
        let choices = ask_choices(&args, &config, lang, &mut input, &mut output).context("reading the answers")?;
        let _ = writeln!(output, "\n{}", texts(lang).message("ui-launch", &[]));
        choices
    } else {
        let line = (args.line.is_some() || args.line_id.is_some()).then(|| LineUnderTest {
            kind: args.line.map_or_else(|| agent_line(&config), LineKind::from),
            id: args.line_id.clone(),
        });
        (
            line,
            args.problem.map_or_else(|| default_problem(&args), ProblemKind::from),
        )
    };
    let request = RunRequest {
        line,
        problem,
        profile: args.profile.clone(),
        options: RunOptions {
            lang,
            checks: None,
            confirm_actions: confirm_actions(&args, problem, lang),
            action: args.action.clone(),
        },
        contact: args.contact.clone(),
    };
    let presenter = Presenter::new(lang, std::io::stderr().is_terminal() && args.json.is_none());
    let cancel = CancellationToken::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });

    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let source = async {
        match &args.remote.agent {
            None => {
                let sink = ChannelSink::new(tx, crate::history::Recorder::open(&request));
                sonde_agent::run_embedded(request, &config, &sink, cancel.clone())
                    .await
                    .context("cannot plan the run")?;
                anyhow::Ok(None)
            }
            Some(url) => {
                let agent = remote::Agent::new(url, args.remote.token.as_deref())?;
                let run = agent.start(&request).await?;
                agent.follow(run, &tx, &cancel).await?;
                drop(tx);
                Ok(Some(agent.report(run).await))
            }
        }
    };
    let json_events = args.json == Some(JsonMode::Events);
    let sink = async {
        let mut report: Option<RunReport> = None;
        let mut stdout = std::io::stdout().lock();
        while let Some(event) = rx.recv().await {
            if json_events {
                let line = serde_json::to_string(&event).unwrap_or_default();
                // A closed stdout (`| head`) must not abort the run: the report still matters
                // for the exit status.
                let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
            }
            presenter.on_event(&event);
            let report = report.get_or_insert_with(|| RunReport::new(event.run, RunRequest::default(), event.ts));
            report.apply(&event);
        }
        report
    };
    let (source, folded) = tokio::join!(source, sink);
    presenter.finish();
    let fetched = source?;
    // The daemon's own report when it could be fetched, else the same fold of the same events.
    let Some(report) = fetched.and_then(Result::ok).or(folded) else {
        anyhow::bail!("the agent sent no event");
    };
    match args.json {
        Some(JsonMode::Report) => println!("{}", serde_json::to_string_pretty(&report)?),
        Some(JsonMode::Events) => {}
        None if guided && !args.evidence => {
            let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            print!("{}", crate::render::headline_text(&report, lang, color));
            show_evidence_on_request(&report, lang);
        }
        None => print!("{}", crate::render::report_text(&report, lang)),
    }
    if let Some(path) = &args.junit {
        let host = match &args.remote.agent {
            Some(url) => url_host(url),
            None => local_hostname(),
        };
        let xml = crate::junit::junit_xml(&report, &host, args.expect.as_ref());
        std::fs::write(path, xml).with_context(|| format!("cannot write the JUnit file {}", path.display()))?;
    }
    Ok(exit_code(&report, args.expect.as_ref()))
}

/// The line and the problem, asked for when the flags did not give them: the line confirmed
/// (the agent's own first), its identifier, then the nature of the problem.
fn ask_choices(
    args: &DiagnoseArgs,
    config: &Config,
    lang: Lang,
    input: &mut dyn std::io::BufRead,
    output: &mut dyn Write,
) -> std::io::Result<(Option<LineUnderTest>, ProblemKind)> {
    let t = texts(lang);
    let kind = match args.line {
        Some(line) => LineKind::from(line),
        None => {
            let options = [t.message("ui-line-box", &[]), t.message("ui-line-mobile", &[])];
            let default = usize::from(agent_line(config) == LineKind::Mobile);
            let question = t.message("ui-line-question", &[]);
            match crate::prompt::choose(input, output, &question, &options, default)? {
                1 => LineKind::Mobile,
                _ => LineKind::Box,
            }
        }
    };
    let id = match &args.line_id {
        Some(id) => Some(id.clone()),
        None => crate::prompt::ask(input, output, &t.message("ui-line-id-question", &[]))?,
    };
    let problem = match args.problem {
        Some(problem) => ProblemKind::from(problem),
        None if args.action.is_some() => default_problem(args),
        None => {
            let options: Vec<String> = ProblemKind::ALL
                .iter()
                .map(|p| t.message(&format!("problem-{}", p.as_str()), &[]))
                .collect();
            let question = t.message("ui-problem-question", &[]);
            ProblemKind::ALL[crate::prompt::choose(input, output, &question, &options, 0)?]
        }
    };
    Ok((Some(LineUnderTest { kind, id }), problem))
}

/// The problem when no `--problem` says: mobile for an `--action` (the actions act on the
/// mobile modem, and the mobile plan re-tests what they change), else no-internet.
fn default_problem(args: &DiagnoseArgs) -> ProblemKind {
    if args.action.is_some() {
        ProblemKind::Mobile
    } else {
        ProblemKind::NoInternet
    }
}

/// The kind of the agent's own line, from its configuration: mobile when its threshold profile
/// is a mobile one or a modem is configured.
fn agent_line(config: &Config) -> LineKind {
    if matches!(config.profile.name.as_str(), "4g" | "5g") || config.mobile.modem.is_some() {
        LineKind::Mobile
    } else {
        LineKind::Box
    }
}

/// After the headline, on a terminal: Enter prints the technical details, `q` (or the end of
/// the input) leaves without them.
fn show_evidence_on_request(report: &RunReport, lang: Lang) {
    let t = texts(lang);
    let mut stdout = std::io::stdout();
    let _ = write!(stdout, "\n{} ", t.message("ui-evidence-prompt", &[]));
    let _ = stdout.flush();
    let mut answer = String::new();
    match std::io::stdin().read_line(&mut answer) {
        Ok(n) if n > 0 && !answer.trim().eq_ignore_ascii_case("q") => {
            print!("{}", crate::render::evidence_text(report, lang));
        }
        _ => println!("\n{}", t.message("ui-evidence-hint", &[])),
    }
}

/// Fails early, before a run, when `path` cannot be a file we write: its directory is missing,
/// or it is a directory.
fn check_writable_file(path: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(!path.is_dir(), "--junit {}: is a directory, not a file", path.display());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    anyhow::ensure!(
        dir.is_dir(),
        "--junit {}: the directory {} does not exist",
        path.display(),
        dir.display()
    );
    Ok(())
}

/// This machine's name, for the JUnit `hostname`.
fn local_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The host part of an agent URL (the machine that ran the checks).
fn url_host(url: &str) -> String {
    url.parse::<reqwest::Url>()
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

/// The exit status for a finished run.
pub fn exit_code(report: &RunReport, expect: Option<&Expect>) -> u8 {
    if report.state != RunState::Completed || report.diagnosis.is_none() {
        return EXIT_COULD_NOT_RUN;
    }
    match expect {
        Some(expect) if expect.holds(report) => EXIT_HEALTHY,
        Some(_) => EXIT_PROBLEM,
        None if report.diagnosis.as_ref().is_some_and(|d| d.healthy) => EXIT_HEALTHY,
        None => EXIT_PROBLEM,
    }
}

/// Forwards the embedded agent's events to the presenter's channel, and records them in the
/// local history.
pub(crate) struct ChannelSink {
    tx: Mutex<Option<mpsc::UnboundedSender<Event>>>,
    history: Option<crate::history::Recorder>,
}

impl ChannelSink {
    /// A sink sending to `tx` (closed after `run_finished`) and recording in `history`.
    pub(crate) fn new(tx: mpsc::UnboundedSender<Event>, history: Option<crate::history::Recorder>) -> Self {
        Self {
            tx: Mutex::new(Some(tx)),
            history,
        }
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, event: Event) {
        if let Some(history) = &self.history {
            history.record(&event);
        }
        let finished = matches!(event.data, EventData::RunFinished(_));
        let Ok(mut tx) = self.tx.lock() else { return };
        if let Some(sender) = tx.as_ref() {
            let _ = sender.send(event);
        }
        if finished {
            // Closing the channel ends the presenter's loop.
            *tx = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn diagnose_args(args: &[&str]) -> DiagnoseArgs {
        let mut argv = vec!["diagnose"];
        argv.extend_from_slice(args);
        DiagnoseArgs::parse_from(argv)
    }

    #[test]
    fn the_guided_flow_asks_only_what_the_flags_did_not_say() {
        let config = Config::default();
        // Everything asked: the line (mobile), its number, the problem (slow).
        let mut shown = Vec::new();
        let (line, problem) = ask_choices(
            &diagnose_args(&[]),
            &config,
            Lang::En,
            &mut "2\n0612345678\n2\n".as_bytes(),
            &mut shown,
        )
        .expect("io");
        let line = line.expect("a line");
        assert_eq!((line.kind, line.id.as_deref()), (LineKind::Mobile, Some("0612345678")));
        assert_eq!(problem, ProblemKind::Slow);
        let shown = String::from_utf8_lossy(&shown);
        assert!(
            shown.contains("Which line do you want to test?\n *1) The Internet box"),
            "{shown}"
        );
        assert!(shown.contains("What is the problem?\n *1) "), "{shown}");

        // Every answer given as a flag: nothing is read, nothing is asked.
        let mut shown = Vec::new();
        let (line, problem) = ask_choices(
            &diagnose_args(&["--line", "box", "--line-id", "fti/1", "--problem", "wifi"]),
            &config,
            Lang::En,
            &mut "".as_bytes(),
            &mut shown,
        )
        .expect("io");
        assert_eq!(line.map(|l| l.kind), Some(LineKind::Box));
        assert_eq!(problem, ProblemKind::Wifi);
        assert!(shown.is_empty(), "{}", String::from_utf8_lossy(&shown));
    }

    #[test]
    fn an_action_flag_makes_the_problem_mobile_unless_given() {
        let config = Config::default();
        let mut shown = Vec::new();
        let (_, problem) = ask_choices(
            &diagnose_args(&[
                "--action",
                "reconnect_data_session",
                "--line",
                "mobile",
                "--line-id",
                "06",
            ]),
            &config,
            Lang::En,
            &mut "".as_bytes(),
            &mut shown,
        )
        .expect("io");
        assert_eq!(problem, ProblemKind::Mobile);
        assert!(shown.is_empty(), "nothing asked: {}", String::from_utf8_lossy(&shown));
        assert_eq!(default_problem(&diagnose_args(&[])), ProblemKind::NoInternet);
        let args = diagnose_args(&["--action", "reset_modem", "--problem", "slow"]);
        assert_eq!(args.problem.map(ProblemKind::from), Some(ProblemKind::Slow));
        assert!(
            !confirm_actions(&args, ProblemKind::Mobile, Lang::En),
            "no question asked"
        );
        assert!(
            DiagnoseArgs::try_parse_from(["diagnose", "--action", "reset_modem", "--no-actions"]).is_err(),
            "--action and --no-actions contradict each other"
        );
    }

    #[test]
    fn the_agents_line_is_mobile_for_a_mobile_profile() {
        let mut config = Config::default();
        assert_eq!(agent_line(&config), LineKind::Box);
        config.profile.name = "5g".to_owned();
        assert_eq!(agent_line(&config), LineKind::Mobile);
    }
}
