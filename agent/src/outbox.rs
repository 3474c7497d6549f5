//! The ticket outbox: tickets are committed to the run store (SQLite, `synchronous=FULL`) before
//! the client hears `queued`, then a delivery loop posts them to the helpdesk with their
//! `Idempotency-Key` until the helpdesk acknowledges them — across outages and restarts.
//!
//! - [`Backoff`] is the retry schedule: a pure state machine (time is passed in), tested with a
//!   fake clock.
//! - [`Helpdesk`] is the only code that touches the network (reqwest); [`deliver_due`] drives it
//!   and is tested with a scripted helpdesk.
//!
//! Exactly-once as seen by the helpdesk: every attempt of a ticket posts the same body with the
//! same key, so a retry after a lost answer (or after a crash between the helpdesk's `201` and
//! our commit) gets the original answer replayed instead of a second ticket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sonde_protocol::{Diagnosis, EventData, RunRequest, TicketRecord, TicketState, TicketStatus, TicketSubmission};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::TicketOptions;
use crate::store::{OutboxEntry, Settled, Store, StoreError};

/// Jittered, capped exponential backoff, shared by the whole outbox (an outage affects every
/// ticket alike). Reset on success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    next_attempt: Option<Instant>,
}

impl Backoff {
    /// A schedule whose first retry waits about `base` and whose delays never exceed `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            failures: 0,
            next_attempt: None,
        }
    }

    /// Whether an attempt may go out at `now`.
    pub fn poll_ready(&self, now: Instant) -> bool {
        self.next_attempt.is_none_or(|at| now >= at)
    }

    /// When the next attempt may go out (`None`: now).
    pub fn next_attempt(&self) -> Option<Instant> {
        self.next_attempt
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// An attempt failed at `now`; `jitter` in `[0, 1)` picks the delay in the upper half of the
    /// exponential step ("equal jitter"), so retries of many agents spread out after an outage.
    /// Returns the delay chosen.
    pub fn handle_failure(&mut self, now: Instant, jitter: f64) -> Duration {
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(self.failures.min(31)))
            .min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let delay = step / 2 + step.mul_f64(jitter) / 2;
        self.failures = self.failures.saturating_add(1);
        self.next_attempt = Some(now + delay);
        delay
    }

    /// An attempt succeeded: the next one may go at once, and delays start small again.
    pub fn handle_success(&mut self) {
        self.failures = 0;
        self.next_attempt = None;
    }
}

/// What the helpdesk made of one attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum PostOutcome {
    /// Accepted (first time or replayed): the helpdesk's record.
    Acknowledged(Box<TicketRecord>),
    /// Not now (network error, 5xx, 409 in flight, 429): retry later.
    Retry(String),
    /// Refused for good (400, 401, 422…): retrying the same request cannot help.
    Rejected(String),
}

/// Posts a ticket to the helpdesk. The only network code of the outbox.
pub trait Helpdesk: Send + Sync {
    /// One attempt: `POST /v1/tickets` with `key` and `body`.
    fn post<'a>(&'a self, key: &'a str, body: &'a str) -> Pin<Box<dyn Future<Output = PostOutcome> + Send + 'a>>;
}

/// The helpdesk over HTTP (reqwest).
#[derive(Debug)]
pub struct HttpHelpdesk {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

/// One attempt is cut after this long (then retried).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

impl HttpHelpdesk {
    /// A client of the helpdesk at `options.helpdesk`.
    pub fn new(options: &TicketOptions) -> anyhow::Result<Self> {
        use tokio_rustls::rustls;
        // reqwest is built without a default crypto provider: hand it ring and the Mozilla roots,
        // as the checks do (without this, building the client panics).
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
            .with_no_client_auth();
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .tls_backend_preconfigured(tls)
                .build()?,
            url: format!("{}/v1/tickets", options.helpdesk),
            token: options.token.clone(),
        })
    }
}

impl Helpdesk for HttpHelpdesk {
    fn post<'a>(&'a self, key: &'a str, body: &'a str) -> Pin<Box<dyn Future<Output = PostOutcome> + Send + 'a>> {
        Box::pin(async move {
            let mut request = self
                .client
                .post(&self.url)
                .header("idempotency-key", key)
                .header("content-type", "application/json")
                .body(body.to_owned());
            if let Some(token) = &self.token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => return PostOutcome::Retry(format!("helpdesk unreachable: {e}")),
            };
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            outcome_of(status.as_u16(), &text)
        })
    }
}

/// Maps the helpdesk's answer to an outcome (the one place that knows HTTP statuses).
pub fn outcome_of(status: u16, body: &str) -> PostOutcome {
    match status {
        200..=299 => match serde_json::from_str::<TicketRecord>(body) {
            Ok(record) => PostOutcome::Acknowledged(Box::new(record)),
            Err(e) => PostOutcome::Retry(format!("helpdesk answered {status} with a malformed ticket: {e}")),
        },
        408 | 409 | 425 | 429 | 500..=599 => PostOutcome::Retry(format!("helpdesk answered {status}")),
        _ => PostOutcome::Rejected(format!(
            "helpdesk refused the ticket ({status}): {}",
            truncate(body, 200)
        )),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The ticket a run opens, if it must open one: the operator must act, and the request names
/// the line and a contact number.
pub fn ticket_for(
    run: sonde_protocol::RunId,
    request: &RunRequest,
    diagnosis: &Diagnosis,
    profile: &str,
    agent_version: &str,
) -> Option<TicketSubmission> {
    if !diagnosis.operator_must_act {
        return None;
    }
    let line = request.line.as_ref()?.id.clone().filter(|l| !l.trim().is_empty())?;
    let contact = request.contact.clone().filter(|c| !c.trim().is_empty())?;
    let operator_findings: Vec<_> = diagnosis
        .findings
        .iter()
        .filter(|f| f.actor == sonde_protocol::Actor::Operator)
        .collect();
    let evidence = operator_findings
        .iter()
        .flat_map(|f| f.evidence.iter())
        .map(|e| match &e.threshold {
            Some(t) => format!("{} = {} (threshold {})", e.metric, json(&e.value), json(t)),
            None => format!("{} = {}", e.metric, json(&e.value)),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(TicketSubmission {
        line,
        contact,
        problem: request.problem,
        findings: operator_findings.iter().map(|f| f.code.to_string()).collect(),
        evidence,
        run,
        agent_version: agent_version.to_owned(),
        profile: Some(profile.to_owned()),
    })
}

/// Compact JSON of a wire value, for the evidence summary.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Commits `submission` to the outbox and returns the `queued` status to stream.
pub fn enqueue(store: &Store, submission: &TicketSubmission) -> Result<TicketStatus, StoreError> {
    let key = uuid::Uuid::now_v7().to_string();
    let body = serde_json::to_string(submission)?;
    store.enqueue_ticket(submission.run, &key, &body)?;
    Ok(status(TicketState::Queued, None, 0, None))
}

fn status(state: TicketState, number: Option<&str>, attempts: u32, error: Option<&str>) -> TicketStatus {
    TicketStatus {
        state,
        ticket_number: number.map(str::to_owned),
        attempts,
        last_error: error.map(str::to_owned),
    }
}

/// Tries every due ticket once, oldest first, unless `backoff` says to wait. Stops at the first
/// retryable failure (the helpdesk is down for all of them). `changed` is called after every
/// event appended. Returns whether anything is left to deliver.
pub async fn deliver_due(
    store: &Store,
    helpdesk: &dyn Helpdesk,
    backoff: &mut Backoff,
    now: impl Fn() -> Instant,
    jitter: impl Fn() -> f64,
    changed: &(dyn Fn() + Sync),
) -> Result<bool, StoreError> {
    if !backoff.poll_ready(now()) {
        return Ok(true);
    }
    for entry in store.due_tickets()? {
        let OutboxEntry {
            id,
            run,
            key,
            body,
            attempts,
        } = entry;
        let attempts = attempts.saturating_add(1);
        // `sent` once, at the first attempt; later attempts are counted, not streamed.
        let sent = (attempts == 1).then(|| EventData::Ticket(status(TicketState::Sent, None, attempts, None)));
        store.begin_attempt(id, run, sent)?;
        changed();
        match helpdesk.post(&key, &body).await {
            PostOutcome::Acknowledged(record) => {
                backoff.handle_success();
                let number = record.number.as_str();
                let mut events = vec![EventData::Ticket(status(
                    TicketState::Acknowledged,
                    Some(number),
                    attempts,
                    None,
                ))];
                if record.sms_sent {
                    events.push(EventData::Ticket(status(
                        TicketState::SmsSent,
                        Some(number),
                        attempts,
                        None,
                    )));
                }
                store.settle_ticket(id, run, Settled::Delivered, Some(number), events)?;
                tracing::info!(%run, ticket = number, attempts, "ticket delivered");
                changed();
            }
            PostOutcome::Retry(error) => {
                let delay = backoff.handle_failure(now(), jitter());
                // The first failure tells the client the ticket waits; later ones only the log.
                let event = (backoff.failures() == 1)
                    .then(|| EventData::Ticket(status(TicketState::Queued, None, attempts, Some(&error))));
                store.attempt_failed(id, run, &error, event)?;
                tracing::warn!(%run, attempts, retry_in_ms = delay.as_millis(), "ticket not delivered: {error}");
                changed();
                return Ok(true);
            }
            PostOutcome::Rejected(error) => {
                backoff.handle_success();
                let event = EventData::Ticket(status(TicketState::Rejected, None, attempts, Some(&error)));
                store.attempt_failed(id, run, &error, None)?;
                store.settle_ticket(id, run, Settled::Rejected, None, vec![event])?;
                tracing::error!(%run, "ticket rejected: {error}");
                changed();
            }
        }
    }
    Ok(false)
}

/// The delivery loop of `sonded`: delivers due tickets, sleeps until the backoff allows the
/// next attempt or `wake` is notified (a run finished with a ticket), until `shutdown`.
pub async fn run(
    store: Arc<Store>,
    helpdesk: Box<dyn Helpdesk>,
    options: TicketOptions,
    wake: Arc<Notify>,
    changed: Box<dyn Fn() + Send + Sync>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(options.retry_base, options.retry_max);
    loop {
        let pending = match deliver_due(
            &store,
            helpdesk.as_ref(),
            &mut backoff,
            Instant::now,
            random_unit,
            &*changed,
        )
        .await
        {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!("ticket outbox: {e}");
                backoff.handle_failure(Instant::now(), random_unit());
                true
            }
        };
        // Sleep until the next attempt is allowed; idle, re-check now and then anyway (a bounded
        // wait: a missed wake-up costs at most `retry_max`).
        let sleep = match backoff.next_attempt() {
            Some(at) if pending => at.saturating_duration_since(Instant::now()),
            _ => options.retry_max,
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// A number in `[0, 1)` for the jitter, from the standard library's randomly seeded hasher
/// (no cryptographic quality needed: only spreading retries).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Mutex;

    use sonde_protocol::{HelpdeskStatus, ProblemKind, RunId, RunState, Timestamp};

    #[test]
    fn backoff_grows_is_capped_jittered_and_reset_on_success() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        assert!(b.poll_ready(t0));
        // (jitter, expected delay) in order: 1 s, 2 s, 4 s, 8 s, 8 s (capped) steps.
        let table = [
            (0.0, Duration::from_millis(500)),
            (1.0, Duration::from_secs(2)),
            (0.5, Duration::from_secs(3)),
            (0.0, Duration::from_secs(4)),
            (1.0, Duration::from_secs(8)),
            (1.0, Duration::from_secs(8)),
        ];
        let mut now = t0;
        for (i, (jitter, expected)) in table.into_iter().enumerate() {
            let delay = b.handle_failure(now, jitter);
            assert_eq!(delay, expected, "failure {}", i + 1);
            assert!(
                !b.poll_ready(now + delay - Duration::from_millis(1)),
                "not before the delay"
            );
            now += delay;
            assert!(b.poll_ready(now), "at the delay");
        }
        b.handle_success();
        assert!(b.poll_ready(now));
        assert_eq!(b.handle_failure(now, 1.0), Duration::from_secs(1), "reset to the base");
        assert!(
            b.handle_failure(now, f64::NAN) <= Duration::from_secs(2),
            "garbage jitter stays in range"
        );
        let mut many = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            assert!(
                many.handle_failure(now, 1.0) <= Duration::from_secs(60),
                "no overflow past the cap"
            );
        }
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..1000 {
            let x = random_unit();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn outcomes_by_status() {
        assert!(matches!(outcome_of(503, ""), PostOutcome::Retry(_)));
        assert!(matches!(outcome_of(409, ""), PostOutcome::Retry(_)));
        assert!(matches!(outcome_of(401, "{}"), PostOutcome::Rejected(_)));
        assert!(matches!(outcome_of(422, "{}"), PostOutcome::Rejected(_)));
        assert!(matches!(outcome_of(201, "not json"), PostOutcome::Retry(_)));
    }

    /// A helpdesk that answers from a script and counts the tickets it really created.
    struct Scripted {
        answers: Mutex<Vec<PostOutcome>>,
        keys: Mutex<Vec<String>>,
    }

    impl Helpdesk for Scripted {
        fn post<'a>(&'a self, key: &'a str, _body: &'a str) -> Pin<Box<dyn Future<Output = PostOutcome> + Send + 'a>> {
            self.keys.lock().expect("keys").push(key.to_owned());
            let answer = self.answers.lock().expect("answers").remove(0);
            Box::pin(async move { answer })
        }
    }

    fn record(number: &str, run: RunId) -> TicketRecord {
        TicketRecord {
            number: number.into(),
            status: HelpdeskStatus::Open,
            device: "box".into(),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            sms_sent: true,
            submission: submission(run),
        }
    }

    fn submission(run: RunId) -> TicketSubmission {
        TicketSubmission {
            line: "L".into(),
            contact: "+33600000000".into(),
            problem: ProblemKind::NoInternet,
            findings: vec![],
            evidence: String::new(),
            run,
            agent_version: "t".into(),
            profile: None,
        }
    }

    #[tokio::test]
    async fn a_ticket_waits_out_an_outage_with_a_fake_clock_and_is_delivered_once() {
        let store = Store::in_memory().expect("store");
        let run = RunId::new();
        store
            .create_run(run, &RunRequest::default(), Timestamp::now())
            .expect("run");
        let queued = enqueue(&store, &submission(run)).expect("enqueue");
        assert_eq!(queued.state, TicketState::Queued);

        let helpdesk = Scripted {
            answers: Mutex::new(vec![
                PostOutcome::Retry("down".into()),
                PostOutcome::Retry("down".into()),
                PostOutcome::Acknowledged(Box::new(record("SND-000007", run))),
            ]),
            keys: Mutex::new(Vec::new()),
        };
        let t0 = Instant::now();
        let clock = Cell::new(t0);
        let now = || clock.get();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

        // The run is still running: its ticket waits for `run_finished`.
        assert!(
            !deliver_due(&store, &helpdesk, &mut backoff, now, || 0.0, &|| {})
                .await
                .expect("deliver")
        );
        assert!(helpdesk.keys.lock().expect("keys").is_empty());
        store
            .append(&sonde_protocol::Event {
                v: 1,
                run,
                seq: 1,
                ts: Timestamp::now(),
                data: EventData::RunFinished(sonde_protocol::RunFinished {
                    state: RunState::Completed,
                    reason: None,
                }),
            })
            .expect("finish");

        assert!(
            deliver_due(&store, &helpdesk, &mut backoff, now, || 0.0, &|| {})
                .await
                .expect("1st")
        );
        // Too early: nothing is posted.
        clock.set(t0 + Duration::from_millis(400));
        assert!(
            deliver_due(&store, &helpdesk, &mut backoff, now, || 0.0, &|| {})
                .await
                .expect("early")
        );
        assert_eq!(helpdesk.keys.lock().expect("keys").len(), 1);
        clock.set(t0 + Duration::from_millis(500));
        assert!(
            deliver_due(&store, &helpdesk, &mut backoff, now, || 0.0, &|| {})
                .await
                .expect("2nd")
        );
        clock.set(t0 + Duration::from_millis(1500));
        assert!(
            !deliver_due(&store, &helpdesk, &mut backoff, now, || 0.0, &|| {})
                .await
                .expect("3rd")
        );

        let keys = helpdesk.keys.lock().expect("keys").clone();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().all(|k| *k == keys[0]), "every attempt carries the same key");
        assert_eq!(
            store.outbox().expect("outbox"),
            vec![("delivered".to_owned(), Some("SND-000007".to_owned()))]
        );
        assert!(!store.ticket_pending(run).expect("pending"));
        let states: Vec<_> = store
            .events_after(run, 1)
            .expect("events")
            .into_iter()
            .filter_map(|e| match e.data {
                EventData::Ticket(t) => Some((t.state, t.ticket_number)),
                _ => None,
            })
            .collect();
        assert_eq!(
            states,
            vec![
                (TicketState::Sent, None),
                (TicketState::Queued, None),
                (TicketState::Acknowledged, Some("SND-000007".to_owned())),
                (TicketState::SmsSent, Some("SND-000007".to_owned())),
            ]
        );
        // Nothing left: further rounds post nothing.
        clock.set(t0 + Duration::from_secs(3600));
        assert!(
            !deliver_due(&store, &helpdesk, &mut backoff, now, || 0.0, &|| {})
                .await
                .expect("idle")
        );
        assert_eq!(helpdesk.keys.lock().expect("keys").len(), 3);
    }

    #[tokio::test]
    async fn a_refused_ticket_is_not_retried_and_says_why() {
        let store = Store::in_memory().expect("store");
        let run = RunId::new();
        store
            .create_run(run, &RunRequest::default(), Timestamp::now())
            .expect("run");
        store
            .append(&sonde_protocol::Event {
                v: 1,
                run,
                seq: 1,
                ts: Timestamp::now(),
                data: EventData::RunFinished(sonde_protocol::RunFinished {
                    state: RunState::Completed,
                    reason: None,
                }),
            })
            .expect("finish");
        enqueue(&store, &submission(run)).expect("enqueue");
        let helpdesk = Scripted {
            answers: Mutex::new(vec![outcome_of(401, "{\"error\":\"unauthorized\"}")]),
            keys: Mutex::new(Vec::new()),
        };
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let now = Instant::now();
        assert!(
            !deliver_due(&store, &helpdesk, &mut backoff, || now, || 0.0, &|| {})
                .await
                .expect("deliver")
        );
        assert!(
            !deliver_due(&store, &helpdesk, &mut backoff, || now, || 0.0, &|| {})
                .await
                .expect("again")
        );
        assert_eq!(helpdesk.keys.lock().expect("keys").len(), 1, "not retried");
        assert_eq!(store.outbox().expect("outbox"), vec![("rejected".to_owned(), None)]);
        assert!(!store.ticket_pending(run).expect("pending"), "the stream can close");
        let last = store.events_after(run, 0).expect("events").pop().expect("an event");
        assert!(
            matches!(&last.data, EventData::Ticket(t) if t.state == TicketState::Rejected
                && t.last_error.as_deref().is_some_and(|e| e.contains("401"))),
            "{last:?}"
        );
    }
}
