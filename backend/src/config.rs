//! The backend's configuration (TOML) and the credentials it accepts.
//!
//! ```toml
//! database = "/var/lib/sonde-backend/helpdesk.db"   # or postgres://…; or --database
//! operator = "Sonde Télécom"                        # signs the SMS
//! sms-lang = "fr"                                   # fr (default) | en
//!
//! [[devices]]
//! name = "box-0001"
//! token-sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! # role = "device" (default: may post tickets) | "technician" (may list, update, inspect SMS)
//! ```
//!
//! Tokens are only ever stored as their SHA-256 (`printf %s TOKEN | sha256sum`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::sms::SmsLang;

/// The configuration file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawConfig {
    /// SQLite path, or PostgreSQL URL (`postgres://` or `postgresql://`).
    pub database: Option<String>,
    /// The operator's name, in the SMS.
    pub operator: Option<String>,
    /// Language of the SMS.
    pub sms_lang: Option<SmsLang>,
    /// Who may call the API.
    pub devices: Vec<RawDevice>,
    /// `[sms]`: the SMS gateway.
    pub sms: RawSms,
}

/// `[sms]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RawSms {
    /// `stub` (default) or `http`.
    pub gateway: Option<String>,
    /// The provider's URL (`http`).
    pub url: Option<String>,
    /// `Name: value`, sent with every request (`http`).
    pub auth_header: Option<String>,
    /// The JSON body, with `{to}`, `{text}` and `{ticket}` placeholders (`http`).
    pub template: Option<String>,
}

/// Which SMS gateway to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SmsGatewayChoice {
    /// Record only.
    #[default]
    Stub,
    /// An HTTP provider.
    Http {
        /// Its URL.
        url: String,
        /// `Name: value`.
        auth_header: Option<String>,
        /// The JSON body template.
        template: Option<String>,
    },
}

/// One `[[devices]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawDevice {
    /// The device's name (stored with its tickets).
    pub name: String,
    /// SHA-256 of its bearer token, hex.
    pub token_sha256: String,
    /// What it may do.
    #[serde(default)]
    pub role: Role,
}

/// What a caller may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An agent: posts tickets, reads them back.
    #[default]
    Device,
    /// A technician: also lists tickets, changes their status and inspects the SMS.
    Technician,
}

/// Where the helpdesk's data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (`:memory:`: in memory).
    Sqlite(PathBuf),
    /// A PostgreSQL server: its `postgres://` URL (checked to parse).
    Postgres(String),
}

impl Database {
    /// `text` as a database: a PostgreSQL URL when it starts with `postgres://` or
    /// `postgresql://`, else an SQLite path.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            text.parse::<tokio_postgres::Config>()
                .map_err(|e| anyhow::anyhow!("database: invalid PostgreSQL URL {}: {e}", redact_url(text)))?;
            Ok(Database::Postgres(text.to_owned()))
        } else {
            anyhow::ensure!(!text.trim().is_empty(), "database: empty path");
            Ok(Database::Sqlite(PathBuf::from(text)))
        }
    }
}

// By hand: the URL may hold a password, which must not reach a log.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// `url` with its password (in the user part or a `password=` parameter) shown as `***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = rest.find(['/', '?']).map_or((rest, ""), |i| rest.split_at(i));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{tail}")
    } else {
        format!("{scheme}://{authority}{tail}")
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The database; `None`: the default SQLite path.
    pub database: Option<Database>,
    /// Signs the SMS.
    pub operator: String,
    /// Language of the SMS.
    pub sms_lang: SmsLang,
    /// Token hash (hex) → (device name, role).
    pub credentials: HashMap<String, (String, Role)>,
    /// The SMS gateway.
    pub sms_gateway: SmsGatewayChoice,
}

/// The operator's name when the configuration does not give one.
pub const DEFAULT_OPERATOR: &str = "Sonde";

impl Default for Config {
    fn default() -> Self {
        Self {
            database: None,
            operator: DEFAULT_OPERATOR.to_owned(),
            sms_lang: SmsLang::Fr,
            credentials: HashMap::new(),
            sms_gateway: SmsGatewayChoice::Stub,
        }
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let raw: RawConfig =
            toml::from_str(&text).with_context(|| format!("invalid configuration {}", path.display()))?;
        Self::from_raw(raw)
    }

    /// Validates a raw configuration.
    pub fn from_raw(raw: RawConfig) -> anyhow::Result<Self> {
        let mut credentials = HashMap::new();
        for device in raw.devices {
            let hash = device.token_sha256.trim().to_ascii_lowercase();
            anyhow::ensure!(
                hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
                "device `{}`: token-sha256 must be 64 hex digits",
                device.name
            );
            anyhow::ensure!(
                credentials.insert(hash, (device.name.clone(), device.role)).is_none(),
                "device `{}`: the same token is configured twice",
                device.name
            );
        }
        let database = raw.database.as_deref().map(Database::parse).transpose()?;
        let sms_gateway = match raw.sms.gateway.as_deref() {
            None | Some("stub") => SmsGatewayChoice::Stub,
            Some("http") => {
                let choice = SmsGatewayChoice::Http {
                    url: raw.sms.url.context("[sms] gateway = \"http\" needs a url")?,
                    auth_header: raw.sms.auth_header,
                    template: raw.sms.template,
                };
                // Validate now (URL, header, template) rather than at the first SMS.
                choice.build()?;
                choice
            }
            Some(other) => anyhow::bail!("[sms] gateway `{other}`: expected stub or http"),
        };
        Ok(Self {
            database,
            operator: raw.operator.unwrap_or_else(|| DEFAULT_OPERATOR.to_owned()),
            sms_lang: raw.sms_lang.unwrap_or_default(),
            credentials,
            sms_gateway,
        })
    }

    /// Adds a credential (tests, and the CLI's `--device NAME:TOKEN`).
    pub fn add_token(&mut self, name: &str, token: &str, role: Role) {
        self.credentials.insert(hash_token(token), (name.to_owned(), role));
    }

    /// Who presents `token`, if anyone.
    pub fn authenticate(&self, token: &str) -> Option<(&str, Role)> {
        self.credentials
            .get(&hash_token(token))
            .map(|(name, role)| (name.as_str(), *role))
    }
}

impl SmsGatewayChoice {
    /// The gateway this choice names.
    pub fn build(&self) -> anyhow::Result<Box<dyn crate::sms::SmsGateway>> {
        Ok(match self {
            SmsGatewayChoice::Stub => Box::new(crate::sms::StubGateway),
            SmsGatewayChoice::Http {
                url,
                auth_header,
                template,
            } => Box::new(
                crate::sms::HttpGateway::new(url, auth_header.as_deref(), template.as_deref())
                    .map_err(|e| anyhow::anyhow!("[sms]: {e}"))?,
            ),
        })
    }
}

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_by_their_hash() {
        let raw: RawConfig = toml::from_str(
            "operator = \"Op\"\n[[devices]]\nname = \"box\"\ntoken-sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n",
        )
        .expect("parses");
        let config = Config::from_raw(raw).expect("valid");
        assert_eq!(config.authenticate("test"), Some(("box", Role::Device)));
        assert_eq!(config.authenticate("other"), None);
        assert_eq!(config.sms_lang, SmsLang::Fr);
    }

    #[test]
    fn the_shipped_sample_is_the_defaults() {
        let text = include_str!("../sonde-backend.toml.sample");
        let config = Config::from_raw(toml::from_str(text).expect("the sample parses")).expect("valid");
        let defaults = Config::default();
        assert_eq!(config.database, defaults.database);
        assert_eq!(config.operator, defaults.operator);
        assert_eq!(config.sms_lang, defaults.sms_lang);
        assert!(config.credentials.is_empty());
    }

    #[test]
    fn postgres_urls_select_postgresql_and_other_text_a_sqlite_file() {
        let database = |text: &str| {
            Config::from_raw(RawConfig {
                database: Some(text.into()),
                ..RawConfig::default()
            })
            .map(|c| c.database)
        };
        for url in [
            "postgres://localhost/helpdesk",
            "postgresql://sonde:pw@db.internal:5433/helpdesk",
        ] {
            assert_eq!(database(url).expect("valid"), Some(Database::Postgres(url.into())));
        }
        assert_eq!(
            database("/var/lib/sonde/helpdesk.db").expect("valid"),
            Some(Database::Sqlite("/var/lib/sonde/helpdesk.db".into()))
        );
        let error = database("postgres://sonde:s3cret@localhost:notaport/helpdesk").expect_err("bad port");
        assert!(!format!("{error:#}").contains("s3cret"), "{error:#}");
        assert!(database("").is_err());
    }

    #[test]
    fn passwords_never_reach_the_log() {
        for (url, shown) in [
            (
                "postgres://sonde:s3cret@db:5432/helpdesk",
                "postgres://sonde:***@db:5432/helpdesk",
            ),
            ("postgres://sonde@db/helpdesk", "postgres://sonde@db/helpdesk"),
            (
                "postgres://db/helpdesk?user=sonde&password=s3cret",
                "postgres://db/helpdesk?user=sonde&password=***",
            ),
            ("postgresql://u:p@x:y@h", "postgresql://u:***@h"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let database = Database::Postgres("postgres://sonde:s3cret@db/h".into());
        assert!(!format!("{database} {database:?}").contains("s3cret"));
    }
}
