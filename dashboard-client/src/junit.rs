//! `sonde diagnose --junit FILE`: the report as a JUnit XML file, in the Ant/Jenkins dialect that
//! CI servers (Jenkins, GitLab, GitHub Actions reporters, Azure Pipelines) read.
//!
//! One `<testsuite>` per run; each check is a `<testcase>`, and one more test case, `diagnosis`,
//! carries the run's verdict: it fails exactly when `sonde diagnose` exits non-zero (it follows
//! `--expect`). Each check's test case follows the check's status:
//!
//! | check status | test case |
//! | --- | --- |
//! | `pass` | passed |
//! | `warn` | passed, with a `WARN:` line and the metrics in `<system-out>` (JUnit has no warning outcome; a degraded line that matters shows up as a finding, so the `diagnosis` test case fails) |
//! | `fail` | `<failure>` |
//! | `error` (could not measure) | `<error>` |
//! | `skipped` (not run) | `<skipped>` |
//! | unknown to this client | `<error type="unknown">` |
//!
//! The suite's `<properties>` hold the run id, state, problem, profile and each finding; its
//! `<system-out>` holds the diagnosis in words. Times are in seconds; `timestamp` is the run's
//! start in UTC, without a zone suffix (the Ant format's `xs:dateTime` pattern).

use std::fmt::Write as _;

use sonde_protocol::{CheckResult, CheckStatus, Finding, RunReport, RunState};

use crate::cli::Expect;
use crate::render::threshold_text;

/// The JUnit XML document of a finished run. `hostname` names the machine that ran the checks;
/// `expect` is the `--expect` the `diagnosis` test case is judged by (none: healthy).
pub fn junit_xml(report: &RunReport, hostname: &str, expect: Option<&Expect>) -> String {
    let problem = report.request.problem.to_string();
    let classname = format!("sonde.{problem}");
    let verdict = verdict(report, expect);
    let count = |status: CheckStatus| report.checks.iter().filter(|c| c.status == status).count();
    let failures = count(CheckStatus::Fail) + usize::from(matches!(verdict, Verdict::Failure(_)));
    let known = [
        CheckStatus::Pass,
        CheckStatus::Warn,
        CheckStatus::Fail,
        CheckStatus::Skipped,
    ];
    let errors = report.checks.iter().filter(|c| !known.contains(&c.status)).count()
        + usize::from(matches!(verdict, Verdict::Error(_)));
    let skipped = count(CheckStatus::Skipped);
    let tests = report.checks.len() + 1;
    let time = seconds(run_duration_ms(report));
    let timestamp = report.created_at.strftime("%Y-%m-%dT%H:%M:%S").to_string();

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"sonde\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"sonde diagnose --problem {problem}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{timestamp}\" hostname=\"{}\" id=\"0\" package=\"sonde\">",
        // The format wants a host name; an empty one would make the file invalid.
        escape_attr(Some(hostname.trim()).filter(|h| !h.is_empty()).unwrap_or("localhost"))
    );
    xml.push_str("    <properties>\n");
    for (name, value) in properties(report) {
        let _ = writeln!(
            xml,
            "      <property name=\"{}\" value=\"{}\"/>",
            escape_attr(&name),
            escape_attr(&value)
        );
    }
    xml.push_str("    </properties>\n");
    for check in &report.checks {
        write_check(&mut xml, &classname, check);
    }
    write_verdict(&mut xml, &classname, report, &verdict);
    let _ = writeln!(
        xml,
        "    <system-out>{}</system-out>",
        escape_text(&diagnosis_text(report))
    );
    xml.push_str("    <system-err></system-err>\n");
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Escapes text for an XML 1.0 double-quoted attribute value. Line breaks and tabs become
/// character references, which attribute-value normalisation would otherwise turn into spaces.
pub fn escape_attr(text: &str) -> String {
    escape(text, true)
}

/// Escapes text for XML 1.0 element content; line breaks stay as they are.
pub fn escape_text(text: &str) -> String {
    escape(text, false)
}

/// Characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A literal CR would be read back as LF.
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// How the `diagnosis` test case ends.
enum Verdict {
    Passed,
    Failure(String),
    Error(String),
}

fn verdict(report: &RunReport, expect: Option<&Expect>) -> Verdict {
    let Some(diagnosis) = report
        .diagnosis
        .as_ref()
        .filter(|_| report.state == RunState::Completed)
    else {
        let reason = report.reason.as_deref().unwrap_or("no diagnosis");
        return Verdict::Error(format!("the run ended {}: {reason}", report.state));
    };
    let holds = match expect {
        Some(expect) => expect.holds(report),
        None => diagnosis.healthy,
    };
    if holds {
        return Verdict::Passed;
    }
    let found: Vec<&str> = diagnosis.findings.iter().map(|f| f.code.as_str()).collect();
    let found = if found.is_empty() {
        "none".to_owned()
    } else {
        found.join(",")
    };
    Verdict::Failure(match expect {
        Some(expect) => format!("expected {expect}, found: {found}. {}", diagnosis.summary),
        None => format!("not healthy (findings: {found}). {}", diagnosis.summary),
    })
}

fn write_check(xml: &mut String, classname: &str, check: &CheckResult) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{classname}\" time=\"{}\">",
        check.id,
        seconds(check.duration_ms)
    );
    let reason = check.reason.as_deref().unwrap_or_default();
    let metrics = metrics_text(check);
    match check.status {
        CheckStatus::Pass => {}
        CheckStatus::Warn => {
            let note = format!("WARN: {reason}\n{metrics}");
            let _ = write!(
                xml,
                "\n      <system-out>{}</system-out>\n    ",
                escape_text(note.trim_end())
            );
        }
        CheckStatus::Fail => {
            let message = if reason.is_empty() {
                "past a failure threshold"
            } else {
                reason
            };
            let _ = write!(
                xml,
                "\n      <failure message=\"{}\" type=\"fail\">{}</failure>\n    ",
                escape_attr(message),
                escape_text(&metrics)
            );
        }
        CheckStatus::Error => {
            let _ = write!(
                xml,
                "\n      <error message=\"{}\" type=\"error\">{}</error>\n    ",
                escape_attr(reason),
                escape_text(&metrics)
            );
        }
        CheckStatus::Skipped => {
            let _ = write!(xml, "\n      <skipped message=\"{}\"/>\n    ", escape_attr(reason));
        }
        // A status a newer agent sent (`unknown`, or one this build has no name for).
        _ => {
            let _ = write!(
                xml,
                "\n      <error message=\"a check status this sonde does not know\" type=\"unknown\">{}</error>\n    ",
                escape_attr(reason)
            );
        }
    }
    xml.push_str("</testcase>\n");
}

fn write_verdict(xml: &mut String, classname: &str, report: &RunReport, verdict: &Verdict) {
    let _ = write!(
        xml,
        "    <testcase name=\"diagnosis\" classname=\"{classname}\" time=\"{}\">",
        seconds(run_duration_ms(report))
    );
    match verdict {
        Verdict::Passed => {}
        Verdict::Failure(message) => {
            let _ = write!(
                xml,
                "\n      <failure message=\"{}\" type=\"diagnosis\">{}</failure>\n    ",
                escape_attr(message),
                escape_text(&diagnosis_text(report))
            );
        }
        Verdict::Error(message) => {
            let _ = write!(
                xml,
                "\n      <error message=\"{}\" type=\"{}\"/>\n    ",
                escape_attr(message),
                report.state
            );
        }
    }
    xml.push_str("</testcase>\n");
}

fn properties(report: &RunReport) -> Vec<(String, String)> {
    let mut props = vec![
        ("sonde.run".to_owned(), report.run.to_string()),
        ("sonde.state".to_owned(), report.state.to_string()),
        ("sonde.problem".to_owned(), report.request.problem.to_string()),
        ("sonde.agent_version".to_owned(), report.agent_version.clone()),
    ];
    if let Some(diagnosis) = &report.diagnosis {
        props.push(("sonde.healthy".to_owned(), diagnosis.healthy.to_string()));
        props.push((
            "sonde.profile".to_owned(),
            format!("{} v{}", diagnosis.profile.name, diagnosis.profile.version),
        ));
        props.push(("sonde.summary".to_owned(), diagnosis.summary.clone()));
        for (i, f) in diagnosis.findings.iter().enumerate() {
            props.push((format!("sonde.finding.{}", i + 1), finding_line(f)));
        }
    }
    props
}

/// The diagnosis in words: the summary, then each finding with its evidence.
fn diagnosis_text(report: &RunReport) -> String {
    let mut out = String::new();
    let Some(diagnosis) = &report.diagnosis else {
        let _ = writeln!(
            out,
            "run {}: {}",
            report.state,
            report.reason.as_deref().unwrap_or_default()
        );
        return out;
    };
    let _ = writeln!(out, "{}", diagnosis.summary);
    for f in &diagnosis.findings {
        let _ = writeln!(out, "{}", finding_line(f));
        if !f.detail.is_empty() {
            let _ = writeln!(out, "  {}", f.detail);
        }
        for e in &f.evidence {
            let _ = writeln!(
                out,
                "  {}.{} = {}{}",
                e.check,
                e.metric,
                e.value,
                threshold_text(e.threshold)
            );
        }
    }
    out
}

/// A finding in one line: `CODE severity segment actor: title`.
fn finding_line(f: &Finding) -> String {
    format!(
        "{} {} {} {}: {}",
        f.code,
        f.severity.as_str(),
        f.segment.as_str(),
        f.actor.as_str(),
        f.title
    )
}

fn metrics_text(check: &CheckResult) -> String {
    let mut out = String::new();
    for m in &check.metrics {
        let status = m.status.map(|s| format!(" [{s}]")).unwrap_or_default();
        let _ = writeln!(out, "{} = {}{}{status}", m.name, m.value, threshold_text(m.threshold));
    }
    out
}

/// The run's wall time: from acceptance to its end (0 when it has not ended).
fn run_duration_ms(report: &RunReport) -> u64 {
    report.finished_at.map_or(0, |end| {
        u64::try_from(end.as_millisecond() - report.created_at.as_millisecond()).unwrap_or(0)
    })
}

/// Milliseconds as JUnit's seconds, to the millisecond.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_quotes_breaks_and_forbidden_controls() {
        assert_eq!(escape_attr("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape_attr("x\ny\tz\r"), "x&#10;y&#9;z&#13;");
        assert_eq!(escape_text("x\ny\tz\r"), "x\ny\tz&#13;");
        assert_eq!(escape_text("bell\u{7}nul\u{0}"), "bell\u{fffd}nul\u{fffd}");
        assert_eq!(escape_text("résumé ✓ ]]>"), "résumé ✓ ]]&gt;");
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(60_005), "60.005");
    }
}
