//! SMS confirmations: the [`SmsGateway`] trait, the stub gateway, the localised templates and
//! phone-number masking for logs.
//!
//! The confirmation is recorded in the database in the same transaction as its ticket (see
//! [`crate::db`]); the [`dispatch`] task then hands recorded messages to the gateway, retrying
//! until it takes them. The stub hands them nowhere: the database row *is* its record,
//! inspectable at `GET /v1/sms`. [`HttpGateway`] posts them to an SMS provider's HTTP API.

use sonde_protocol::SmsRecord;

use crate::db::Store;

/// A boxed future, for the object-safe gateway trait.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends SMS messages that are already recorded in the database.
pub trait SmsGateway: Send + Sync + std::fmt::Debug {
    /// Hands `message` to the carrier. `Ok` means the carrier took it; an error is retried.
    fn deliver<'a>(&'a self, message: &'a SmsRecord) -> BoxFuture<'a, Result<(), SmsError>>;
}

/// A gateway failure (the message stays recorded and is retried).
#[derive(Debug, thiserror::Error)]
#[error("SMS gateway: {0}")]
pub struct SmsError(pub String);

/// The stub gateway: delivers nothing; every message stays recorded in the database.
#[derive(Debug, Default)]
pub struct StubGateway;

impl SmsGateway for StubGateway {
    fn deliver<'a>(&'a self, message: &'a SmsRecord) -> BoxFuture<'a, Result<(), SmsError>> {
        tracing::info!(to = %mask_number(&message.to), ticket = %message.ticket, "SMS (stub) recorded");
        Box::pin(std::future::ready(Ok(())))
    }
}

/// An SMS provider's HTTP API: `POST url` with a JSON body rendered from a template, and an
/// optional authentication header.
#[derive(Debug)]
pub struct HttpGateway {
    client: reqwest::Client,
    url: String,
    auth_header: Option<(String, String)>,
    template: String,
}

/// The JSON body posted when the configuration gives no template.
pub const DEFAULT_TEMPLATE: &str = r#"{"to": {to}, "text": {text}, "reference": {ticket}}"#;

impl HttpGateway {
    /// A gateway posting to `url`. `auth_header` is `Name: value`; `template` is JSON where
    /// `{to}`, `{text}` and `{ticket}` stand for JSON strings (quotes included).
    pub fn new(url: &str, auth_header: Option<&str>, template: Option<&str>) -> Result<Self, SmsError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(SmsError(format!("`{url}` is not an http:// or https:// URL")));
        }
        let auth_header = match auth_header {
            None => None,
            Some(header) => {
                let (name, value) = header
                    .split_once(':')
                    .ok_or_else(|| SmsError("auth-header must read `Name: value`".to_owned()))?;
                Some((name.trim().to_owned(), value.trim().to_owned()))
            }
        };
        let template = template.unwrap_or(DEFAULT_TEMPLATE).to_owned();
        let sample = SmsRecord {
            to: "+33600000000".into(),
            text: "a \"quoted\" text".into(),
            ticket: "SND-000001".into(),
            sent_at: jiff::Timestamp::UNIX_EPOCH,
        };
        serde_json::from_str::<serde_json::Value>(&render(&template, &sample))
            .map_err(|e| SmsError(format!("the template does not render to JSON: {e}")))?;
        let tls = crate::tls::client_config().map_err(|e| SmsError(format!("{e:#}")))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| SmsError(e.to_string()))?;
        Ok(Self {
            client,
            url: url.to_owned(),
            auth_header,
            template,
        })
    }
}

impl SmsGateway for HttpGateway {
    fn deliver<'a>(&'a self, message: &'a SmsRecord) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(render(&self.template, message));
            if let Some((name, value)) = &self.auth_header {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = request
                .send()
                .await
                .map_err(|e| SmsError(format!("provider unreachable: {e}")))?;
            if response.status().is_success() {
                tracing::info!(to = %mask_number(&message.to), ticket = %message.ticket, "SMS handed to the provider");
                Ok(())
            } else {
                Err(SmsError(format!("provider answered {}", response.status())))
            }
        })
    }
}

/// The template with its placeholders replaced by JSON strings.
pub fn render(template: &str, message: &SmsRecord) -> String {
    let json = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    template
        .replace("{to}", &json(&message.to))
        .replace("{text}", &json(&message.text))
        .replace("{ticket}", &json(&message.ticket))
}

/// Hands every recorded, undelivered SMS to `gateway`, oldest first, until one fails. Returns
/// how many went, or the failure.
pub async fn deliver_pending(db: &Store, gateway: &dyn SmsGateway) -> Result<usize, SmsError> {
    let storage = |e: crate::db::DbError| SmsError(e.to_string());
    let mut delivered = 0;
    // One at a time: a replica holds only the message it is sending.
    while let Some((id, message)) = db.claim_sms().await.map_err(storage)? {
        if let Err(e) = gateway.deliver(&message).await {
            // Free it for the next try, this replica's or another's.
            db.release_sms(id).await.map_err(storage)?;
            return Err(e);
        }
        db.mark_sms_delivered(id).await.map_err(storage)?;
        delivered += 1;
    }
    Ok(delivered)
}

/// The SMS dispatcher of `sonde-backend`: delivers recorded messages when `wake` is notified
/// (a ticket was created) and retries failures with a capped backoff (1 s doubling to 60 s),
/// until `shutdown`. Only this task calls the gateway, so a message is never sent twice by
/// one process, nor by two replicas on one PostgreSQL database (each claims what it sends).
/// (Across a crash between the provider's answer and our commit, a message may go twice: the
/// provider's API has no idempotency key to prevent it.)
pub async fn dispatch(
    db: std::sync::Arc<Store>,
    gateway: std::sync::Arc<dyn SmsGateway>,
    wake: std::sync::Arc<tokio::sync::Notify>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    const FIRST_RETRY: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(60);
    let mut retry = FIRST_RETRY;
    loop {
        let wait = match deliver_pending(&db, gateway.as_ref()).await {
            Ok(_) => {
                retry = FIRST_RETRY;
                MAX_RETRY
            }
            Err(e) => {
                tracing::warn!("{e}; retrying in {} s", retry.as_secs());
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                wait
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Language of the SMS texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsLang {
    /// French (the default).
    #[default]
    Fr,
    /// English.
    En,
}

/// The confirmation text of ticket `number`, signed by `operator`.
pub fn confirmation_text(lang: SmsLang, operator: &str, number: &str) -> String {
    match lang {
        SmsLang::Fr => format!(
            "{operator} : votre demande d'intervention {number} est enregistrée. \
             Un conseiller vous recontactera si besoin. Suivez-la dans votre espace client."
        ),
        SmsLang::En => format!(
            "{operator}: your repair request {number} is registered. \
             An advisor will contact you if needed. Follow it in your customer area."
        ),
    }
}

/// A phone number for logs: the country prefix and the last two digits only
/// (`+33612345678` → `+33*******78`).
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep_head = if number.starts_with('+') { 3 } else { 2 };
    if chars.len() <= keep_head + 2 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= chars.len() - 2 { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_in_logs() {
        assert_eq!(mask_number("+33612345678"), "+33*******78");
        assert_eq!(mask_number("0612345678"), "06******78");
        assert_eq!(mask_number("123"), "***");
    }

    #[test]
    fn the_confirmation_names_the_ticket_and_the_operator_in_french_by_default() {
        let text = confirmation_text(SmsLang::default(), "Sonde Télécom", "SND-000042");
        assert!(text.contains("SND-000042") && text.contains("Sonde Télécom") && text.contains("enregistrée"));
        assert!(confirmation_text(SmsLang::En, "Op", "SND-1").contains("registered"));
    }
}
