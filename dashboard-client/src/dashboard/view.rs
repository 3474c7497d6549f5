//! Drawing the model: header and progress, the check table, live metrics, findings with their
//! evidence, the run history, and the keys.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Gauge, Paragraph, Row, Sparkline, Table, Wrap};
use sonde_protocol::{Audience, CheckStatus};

use super::model::{ActionPrompt, CHECKS, Model, Series};
use crate::render::threshold_text;

/// The key line at the bottom.
pub const KEYS: &str = "1 no-internet  2 slow  3 wifi  4 sites  5 voip-tv  6 mobile · ↑↓ enter: one check · x cancel · a action · h history · q quit";

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame<'_>, model: &Model) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(3),
            Constraint::Percentage(35),
            Constraint::Min(10),
            Constraint::Length(2),
        ])
        .split(frame.area());
    draw_progress(frame, rows[0], model);
    let middle = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .split(rows[1]);
    draw_checks(frame, middle[0], model);
    draw_live(frame, middle[1], model);
    let bottom = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(65), Constraint::Percentage(35)])
        .split(rows[2]);
    draw_findings(frame, bottom[0], model);
    draw_history(frame, bottom[1], model);
    let footer = Paragraph::new(vec![
        Line::from(Span::styled(
            model.status.clone(),
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(KEYS),
    ]);
    frame.render_widget(footer, rows[3]);
}

fn draw_progress(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let run = match &model.report {
        Some(report) => format!(
            "run {} · {} · {}",
            report.run,
            report.request.problem.as_str(),
            report.state.as_str()
        ),
        None => "no run yet".to_owned(),
    };
    let step = if model.running {
        model.steps.label(model.lang)
    } else {
        String::new()
    };
    let eta = model
        .eta_ms
        .map(|ms| format!(" · about {} s left", ms.div_ceil(1000)))
        .unwrap_or_default();
    let label = format!("{:>3.0} % {step}{eta}", model.fraction * 100.0);
    let gauge = Gauge::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" sonde dashboard · {} · {run} ", model.source)),
        )
        .gauge_style(Style::default().fg(Color::Cyan))
        .ratio(model.fraction.clamp(0.0, 1.0))
        .label(label);
    frame.render_widget(gauge, area);
}

fn draw_checks(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let selected = CHECKS[model.selected];
    let rows: Vec<Row<'_>> = model
        .check_rows()
        .into_iter()
        .map(|(check, status, duration, reason)| {
            let (text, color) = match status {
                None if model.steps.contains(check) => ("running", Color::Cyan),
                None => ("…", Color::DarkGray),
                Some(status) => (status.as_str(), status_color(status)),
            };
            Row::new(vec![
                Cell::from(check.as_str()),
                Cell::from(text).style(Style::default().fg(color)),
                Cell::from(duration.map(|ms| format!("{ms} ms")).unwrap_or_default()),
                Cell::from(reason),
            ])
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" checks · enter runs {} alone ", selected.as_str()));
    if rows.is_empty() {
        frame.render_widget(Paragraph::new("press 1-6 to start a run").block(block), area);
        return;
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["check", "status", "time", "reason"]).style(Style::default().add_modifier(Modifier::BOLD)))
    .block(block);
    frame.render_widget(table, area);
}

fn draw_live(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let block = Block::default().borders(Borders::ALL).title(" live ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<(String, Option<&Series>)> = Vec::new();
    for (target, series) in &model.rtt {
        let loss = model
            .loss
            .get(target)
            .map(|l| format!(", loss {l:.1} %"))
            .unwrap_or_default();
        lines.push((format!("RTT {target} {}{loss}", ms(series.last())), Some(series)));
    }
    for (target, loss) in &model.loss {
        if !model.rtt.contains_key(target) {
            lines.push((format!("loss {target} {loss:.1} %"), None));
        }
    }
    lines.push((format!("DNS {}", ms(model.dns_ms.last())), Some(&model.dns_ms)));
    let wifi = model
        .wifi_dbm
        .last()
        .map_or_else(|| "-".to_owned(), |dbm| format!("{dbm:.0} dBm"));
    lines.push((format!("WiFi signal {wifi}"), Some(&model.wifi_dbm)));
    let mut constraints: Vec<Constraint> = lines.iter().map(|_| Constraint::Length(2)).collect();
    constraints.push(Constraint::Length(1));
    constraints.push(Constraint::Min(0));
    let slots = Layout::default()
        .direction(Direction::Vertical)
        .constraints(constraints)
        .split(inner);
    for ((label, series), slot) in lines.iter().zip(slots.iter()) {
        let parts = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Length(36), Constraint::Min(5)])
            .split(*slot);
        frame.render_widget(Paragraph::new(label.as_str()), parts[0]);
        if let Some(series) = series {
            // Sparklines take integers: hundredths of the unit keep LAN RTTs visible. dBm are
            // negative: shift them so a stronger signal draws taller.
            let data: Vec<u64> = series
                .samples
                .iter()
                .map(|v| if *v < 0.0 { (v + 110.0).max(0.0) } else { *v * 100.0 })
                .map(|v| v.round() as u64)
                .collect();
            frame.render_widget(Sparkline::default().data(&data), parts[1]);
        }
    }
    if let Some(slot) = slots.get(lines.len()) {
        let (label, ratio) = match model.throughput {
            Some((direction, mbps)) => (
                format!("{direction} {mbps:.1} Mbit/s"),
                if model.throughput_peak > 0.0 {
                    mbps / model.throughput_peak
                } else {
                    0.0
                },
            ),
            None => ("throughput: no speed test running".to_owned(), 0.0),
        };
        let gauge = Gauge::default()
            .gauge_style(Style::default().fg(Color::Green))
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label);
        frame.render_widget(gauge, *slot);
    }
}

fn draw_findings(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let mut lines: Vec<Line<'_>> = Vec::new();
    if let Some(ActionPrompt::Choosing { actions, index }) = &model.action_prompt {
        // The choice takes the findings' place until it is made.
        for (i, action) in actions.iter().enumerate() {
            let style = if i == *index {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            lines.push(Line::from(Span::styled(
                format!("{} {} — {}", i + 1, action.action, action.description),
                style,
            )));
            if let Some(device) = &action.detail {
                lines.push(Line::from(format!("    {device}")));
            }
        }
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" remediation actions · enter or digit: choose · esc: cancel "),
        );
        frame.render_widget(paragraph, area);
        return;
    }
    if let Some(diagnosis) = model.report.as_ref().and_then(|r| r.diagnosis.as_ref()) {
        let color = if diagnosis.healthy { Color::Green } else { Color::Red };
        lines.push(Line::from(Span::styled(
            diagnosis.summary.clone(),
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        )));
        for finding in &diagnosis.findings {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("[{}] ", finding.code),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(
                    "{} · {} · {} · {}",
                    finding.severity.as_str(),
                    finding.segment.as_str(),
                    finding.actor.as_str(),
                    finding.title
                )),
            ]));
            lines.push(Line::from(format!("    {}", finding.detail)));
            for evidence in &finding.evidence {
                lines.push(Line::from(format!(
                    "    {}.{} = {}{}",
                    evidence.check,
                    evidence.metric,
                    evidence.value,
                    threshold_text(evidence.threshold)
                )));
            }
            for advice in finding.actions.iter().filter(|a| a.audience == Audience::Technician) {
                lines.push(Line::from(format!("    → {}", advice.text)));
            }
        }
        if let Some(ticket) = model.report.as_ref().and_then(|r| r.ticket.as_ref()) {
            lines.push(Line::from(format!(
                "ticket: {}{}",
                super::model::wire_name(&ticket.state),
                ticket
                    .ticket_number
                    .as_deref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default()
            )));
        }
    } else if model.running {
        lines.push(Line::from("the diagnosis comes at the end of the run"));
    }
    let paragraph = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::ALL).title(" findings "));
    frame.render_widget(paragraph, area);
}

fn draw_history(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let lines: Vec<Line<'_>> = if model.history.is_empty() {
        vec![Line::from("no run yet")]
    } else {
        model
            .history
            .iter()
            .map(|run| {
                let outcome = match (run.healthy, &run.top_finding) {
                    (Some(true), _) => "healthy".to_owned(),
                    (_, Some(top)) => top.code.to_string(),
                    _ => run.state.as_str().to_owned(),
                };
                let when = run.created_at.strftime("%m-%d %H:%M").to_string();
                Line::from(format!("{when} {:<11} {outcome}", run.problem.as_str()))
            })
            .collect()
    };
    let paragraph = Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" history "));
    frame.render_widget(paragraph, area);
}

fn status_color(status: CheckStatus) -> Color {
    match status {
        CheckStatus::Pass => Color::Green,
        CheckStatus::Warn => Color::Yellow,
        CheckStatus::Fail | CheckStatus::Error => Color::Red,
        _ => Color::DarkGray,
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} ms"))
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use sonde_protocol::{Lang, RunId};

    use super::*;

    fn screen(model: &Model) -> String {
        let mut terminal = Terminal::new(TestBackend::new(140, 40)).expect("test terminal");
        terminal.draw(|frame| draw(frame, model)).expect("draw");
        let buffer = terminal.backend().buffer();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn an_empty_dashboard_says_how_to_start() {
        let model = Model::new(Lang::En, "embedded".to_owned());
        let text = screen(&model);
        assert!(text.contains("no run yet"), "{text}");
        assert!(text.contains("press 1-6 to start a run"), "{text}");
        assert!(text.contains("x cancel"), "{text}");
    }

    #[test]
    fn the_actions_to_choose_from_replace_the_findings() {
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        model.on_key(super::super::model::Key::Char('a'));
        model.actions_loaded(Ok(sonde_protocol::ActionList {
            actions: vec![sonde_protocol::ActionInfo {
                action: "reconnect_data_session".to_owned(),
                description: "Tear down and re-establish the mobile data session".to_owned(),
                available: true,
                detail: Some("modem 192.0.2.1:502 (teltonika-rutos)".to_owned()),
                customer_allowed: true,
            }],
        }));
        let text = screen(&model);
        for expected in [
            "remediation actions",
            "1 reconnect_data_session — Tear down and re-establish the mobile data session",
            "modem 192.0.2.1:502 (teltonika-rutos)",
            "action 1/1: reconnect_data_session",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
    }

    #[test]
    fn a_finished_run_shows_its_checks_live_values_and_diagnosis() {
        let mut model = Model::new(Lang::En, "embedded".to_owned());
        for event in &super::super::model::tests::events(RunId::new()) {
            model.apply(event, 0);
        }
        let text = screen(&model);
        for expected in [
            "completed",
            "gateway",
            "pass",
            "fail",
            "no answer",
            "RTT gateway 2.50 ms, loss 0.0 %",
            "DNS 12.50 ms",
            "The box does not answer DNS.",
            "100 %",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
    }
}
