//! SMS confirmations: the [`SmsGateway`] trait, the stub gateway, the localised templates and
//! phone-number masking for logs.
//!
//! The confirmation is recorded in the database in the same transaction as its ticket (see
//! [`crate::db`]); a gateway then hands the recorded message on. The stub hands it nowhere: the
//! database row *is* its record, inspectable at `GET /v1/sms`.

use sonde_protocol::SmsRecord;

/// Sends SMS messages that are already recorded in the database.
pub trait SmsGateway: Send + Sync + std::fmt::Debug {
    /// Hands `message` to the carrier. Called once per message, after its ticket is committed.
    fn deliver(&self, message: &SmsRecord) -> Result<(), SmsError>;
}

/// A gateway failure (the message stays recorded; an operator can resend it).
#[derive(Debug, thiserror::Error)]
#[error("SMS gateway: {0}")]
pub struct SmsError(pub String);

/// The stub gateway: delivers nothing; every message stays recorded in the database.
#[derive(Debug, Default)]
pub struct StubGateway;

impl SmsGateway for StubGateway {
    fn deliver(&self, message: &SmsRecord) -> Result<(), SmsError> {
        tracing::info!(to = %mask_number(&message.to), ticket = %message.ticket, "SMS (stub) recorded");
        Ok(())
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
