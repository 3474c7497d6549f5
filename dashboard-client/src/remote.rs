//! A client of a `sonded` daemon: starts a run, follows its event stream across disconnects
//! (resuming with `Last-Event-ID`), and fetches the report.

use std::time::Duration;

use anyhow::{Context, bail};
use sonde_protocol::{
    ActionList, ApiError, ErrorCode, Event, EventData, RunCreated, RunId, RunList, RunReport, RunRequest,
};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// Reconnection attempts in a row without receiving any event before giving up.
const MAX_RECONNECTS: u32 = 8;

/// A daemon at a base URL.
#[derive(Debug, Clone)]
pub struct Agent {
    base: String,
    http: reqwest::Client,
}

impl Agent {
    /// A client of the daemon at `url` (`http://host:port`), sending `token` as its bearer
    /// token when given (sonded asks for one from anywhere but its own machine).
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed: reqwest::Url = base.parse().with_context(|| format!("`{url}` is not a URL"))?;
        if parsed.scheme() != "http" {
            bail!("`{url}`: only http:// agents are supported (sonded serves plain HTTP on the LAN)");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .context("the token must be printable ASCII")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = sonde_agent::checks::http::reqwest_builder()?
            .connect_timeout(Duration::from_secs(5))
            .default_headers(headers)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { base, http })
    }

    /// Starts a run.
    pub async fn start(&self, request: &RunRequest) -> anyhow::Result<RunId> {
        let body = serde_json::to_vec(request)?;
        let response = self
            .http
            .post(format!("{}/v1/runs", self.base))
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .with_context(|| format!("cannot reach the agent at {}", self.base))?;
        let status = response.status();
        let bytes = response.bytes().await.context("reading the agent's answer")?;
        if status.is_success() {
            let created: RunCreated = serde_json::from_slice(&bytes).context("the agent's answer is not a run")?;
            return Ok(created.run);
        }
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(ApiError {
                error: ErrorCode::RunInProgress,
                run: Some(run),
                ..
            }) => {
                bail!("the agent is busy with run {run}; wait for it or cancel it (DELETE /v1/runs/{run})")
            }
            Ok(error) => bail!("the agent refused the run ({status}): {}", error.message),
            Err(_) => bail!("the agent answered {status}"),
        }
    }

    /// Follows the run's events until `run_finished`, sending each exactly once, in order, to
    /// `out`. Reconnects with `Last-Event-ID` when the stream breaks; cancels the run on the
    /// daemon when `cancel` fires.
    pub async fn follow(
        &self,
        run: RunId,
        out: &UnboundedSender<Event>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut last_seq = 0u64;
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                outcome = self.stream_once(run, &mut last_seq, out) => outcome,
                () = cancel.cancelled() => {
                    self.cancel(run).await;
                    // Keep following: the daemon ends the run and sends `run_finished`.
                    self.stream_once(run, &mut last_seq, out).await
                }
            };
            match outcome {
                Ok(true) => return Ok(()),
                Ok(false) => failures = 0,
                Err(e) if failures < MAX_RECONNECTS => {
                    failures += 1;
                    eprintln!("sonde: event stream interrupted ({e:#}); resuming after event {last_seq}");
                }
                Err(e) => return Err(e.context(format!("lost the event stream of run {run}"))),
            }
            let backoff = Duration::from_millis(200 * u64::from(failures.clamp(1, 10)));
            tokio::time::sleep(backoff).await;
        }
    }

    /// One connection to the event stream. Returns whether `run_finished` was received.
    async fn stream_once(&self, run: RunId, last_seq: &mut u64, out: &UnboundedSender<Event>) -> anyhow::Result<bool> {
        let mut response = self
            .http
            .get(format!("{}/v1/runs/{run}/events", self.base))
            .header("accept", "text/event-stream")
            .header("last-event-id", last_seq.to_string())
            .send()
            .await
            .context("cannot reach the agent")?;
        if !response.status().is_success() {
            bail!("the agent answered {} for the event stream", response.status());
        }
        let mut parser = SseParser::default();
        let mut received_any = false;
        while let Some(chunk) = response.chunk().await.context("reading the event stream")? {
            for data in parser.push(&chunk) {
                let event: Event = serde_json::from_str(&data).context("the agent sent a malformed event")?;
                if event.seq <= *last_seq {
                    continue; // already delivered before a reconnect
                }
                if event.seq != *last_seq + 1 {
                    bail!("event stream skipped from {} to {}", last_seq, event.seq);
                }
                *last_seq = event.seq;
                received_any = true;
                let finished = matches!(event.data, EventData::RunFinished(_));
                let _ = out.send(event);
                if finished {
                    return Ok(true);
                }
            }
        }
        if received_any {
            Ok(false)
        } else {
            bail!("the stream closed before the run finished")
        }
    }

    /// Asks the daemon to cancel the run (best effort).
    pub async fn cancel(&self, run: RunId) {
        let _ = self
            .http
            .delete(format!("{}/v1/runs/{run}", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
    }

    /// The run's report as the daemon has it.
    pub async fn report(&self, run: RunId) -> anyhow::Result<RunReport> {
        self.get_json(&format!("/v1/runs/{run}"), &format!("run {run}")).await
    }

    /// The remediation actions the daemon knows, and whether its host can perform them.
    pub async fn actions(&self) -> anyhow::Result<ActionList> {
        self.get_json("/v1/actions", "the remediation actions").await
    }

    /// The daemon's `limit` most recent runs, newest first (technician role).
    pub async fn list(&self, limit: usize) -> anyhow::Result<RunList> {
        self.get_json(&format!("/v1/runs?limit={limit}"), "the run history")
            .await
    }

    /// GETs a JSON document; a refusal is an error carrying the daemon's message.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, what: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .with_context(|| format!("cannot reach the agent at {}", self.base))?;
        let status = response.status();
        let bytes = response.bytes().await.context("reading the agent's answer")?;
        if !status.is_success() {
            match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(error) => bail!("the agent refused {what} ({status}): {}", error.message),
                Err(_) => bail!("the agent answered {status} for {what}"),
            }
        }
        serde_json::from_slice(&bytes).with_context(|| format!("the agent's answer for {what} does not decode"))
    }
}

/// Incremental parser of a `text/event-stream`: yields each event's `data` (multi-line data
/// joined with `\n`), ignoring comments and other fields.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the data of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks_and_crlf() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nid: 1\ndata: {\"a\"").is_empty());
        assert_eq!(
            p.push(b":1}\n\nid: 2\r\ndata: x\r\ndata: y\r\n\r\n"),
            vec!["{\"a\":1}".to_owned(), "x\ny".to_owned()]
        );
    }
}
