//! Threshold profiles per access type, shipped with the agent as versioned TOML files
//! (`agent/profiles/*.toml`): what counts as slow, lossy or weak on fibre is not what counts on
//! ADSL or 4G. A profile names itself and its version, and the diagnosis reports both.
//!
//! A file sets only what differs from the built-in defaults, section by section (`[gateway]`,
//! `[latency]`, `[dns]`, `[wifi]`, `[http]`, `[path]`, `[mtu]`, `[mobile]`, `[system]`, with the
//! threshold names of `docs/checks.md` in kebab-case). Unknown sections and keys are errors,
//! and every warn/fail pair must keep warn on the healthy side of fail.

use serde::Deserialize;

use crate::checks::http::HttpThresholds;
use crate::checks::latency::LatencyThresholds;
use crate::checks::mobile::MobileThresholds;
use crate::checks::mtu::MtuThresholds;
use crate::checks::path::PathThresholds;
use crate::checks::system::SystemThresholds;
use crate::checks::wifi::WifiThresholds;
use crate::config::{DnsThresholds, GatewayThresholds, Profile};

/// The profiles shipped with the agent: name and file text.
const BUILTIN: [(&str, &str); 6] = [
    ("default", include_str!("../profiles/default.toml")),
    ("ftth", include_str!("../profiles/ftth.toml")),
    ("vdsl2", include_str!("../profiles/vdsl2.toml")),
    ("adsl", include_str!("../profiles/adsl.toml")),
    ("4g", include_str!("../profiles/4g.toml")),
    ("5g", include_str!("../profiles/5g.toml")),
];

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// No profile has this name.
    #[error("unknown profile `{0}`; the agent ships: {names}", names = names().join(", "))]
    Unknown(String),
    /// The file does not parse.
    #[error("profile `{name}`: {message}")]
    Invalid {
        /// The profile.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// The names of the shipped profiles.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(name, _)| *name).collect()
}

/// The shipped profile called `name`.
pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
    let (_, text) = BUILTIN
        .iter()
        .find(|(known, _)| *known == name)
        .ok_or_else(|| ProfileError::Unknown(name.to_owned()))?;
    parse(name, text)
}

/// A profile file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProfileFile {
    name: String,
    version: u32,
    /// For people; not used by the agent.
    #[allow(dead_code)]
    description: String,
    #[serde(default)]
    gateway: GatewayThresholds,
    #[serde(default)]
    dns: DnsThresholds,
    #[serde(default)]
    latency: LatencyThresholds,
    #[serde(default)]
    wifi: WifiThresholds,
    #[serde(default)]
    http: HttpThresholds,
    #[serde(default)]
    path: PathThresholds,
    #[serde(default)]
    mtu: MtuThresholds,
    #[serde(default)]
    mobile: MobileThresholds,
    #[serde(default)]
    system: SystemThresholds,
}

/// Parses and checks a profile file; `label` names it in errors.
pub fn parse(label: &str, text: &str) -> Result<Profile, ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        name: label.to_owned(),
        message,
    };
    let file: ProfileFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let defaults = Profile::default();
    check_pairs("gateway", &file.gateway, &defaults.gateway).map_err(invalid)?;
    check_pairs("dns", &file.dns, &defaults.dns).map_err(invalid)?;
    check_pairs("latency", &file.latency, &defaults.latency).map_err(invalid)?;
    check_pairs("wifi", &file.wifi, &defaults.wifi).map_err(invalid)?;
    check_pairs("http", &file.http, &defaults.http).map_err(invalid)?;
    check_pairs("path", &file.path, &defaults.path).map_err(invalid)?;
    check_pairs("mobile", &file.mobile, &defaults.mobile).map_err(invalid)?;
    check_pairs("system", &file.system, &defaults.system).map_err(invalid)?;
    Ok(Profile {
        name: file.name,
        version: file.version,
        gateway: file.gateway,
        dns: file.dns,
        latency: file.latency,
        wifi: file.wifi,
        http: file.http,
        path: file.path,
        mtu: file.mtu,
        mobile: file.mobile,
        system: file.system,
        // What the line was sold as is the configuration's ([line]), not the access type's.
        throughput: defaults.throughput,
        responsiveness: defaults.responsiveness,
    })
}

/// Every value finite, and every `…-warn-…`/`…-fail-…` pair ordered the way the defaults are
/// (warn below fail where higher is worse, above it where lower is worse).
fn check_pairs<T: serde::Serialize>(section: &str, values: &T, defaults: &T) -> Result<(), String> {
    let table = |t: &T| toml::Table::try_from(t).map_err(|e| format!("[{section}]: {e}"));
    let (values, defaults) = (table(values)?, table(defaults)?);
    let number = |table: &toml::Table, key: &str| match table.get(key) {
        Some(toml::Value::Float(v)) => Some(*v),
        Some(toml::Value::Integer(v)) => Some(*v as f64),
        _ => None,
    };
    for (key, value) in &values {
        if let toml::Value::Float(v) = value
            && !v.is_finite()
        {
            return Err(format!("[{section}] {key} = {v}: not a finite number"));
        }
        let Some(fail_key) = key.contains("-warn").then(|| key.replacen("-warn", "-fail", 1)) else {
            continue;
        };
        let (Some(warn), Some(fail)) = (number(&values, key), number(&values, &fail_key)) else {
            continue;
        };
        let (Some(default_warn), Some(default_fail)) = (number(&defaults, key), number(&defaults, &fail_key)) else {
            continue;
        };
        let ordered = if default_warn <= default_fail {
            warn <= fail
        } else {
            warn >= fail
        };
        if !ordered {
            return Err(format!(
                "[{section}] {fail_key} = {fail} is on the healthy side of {key} = {warn}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_loads_under_its_own_name() {
        for name in names() {
            let profile = builtin(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(profile.name, name);
            assert!(profile.version >= 1);
        }
        assert_eq!(
            builtin("default").map(|p| Profile { version: 1, ..p }).ok(),
            Some(Profile::default()),
            "the default profile is the built-in thresholds"
        );
    }

    #[test]
    fn access_types_differ_where_they_should() {
        let get = |name: &str| builtin(name).unwrap_or_else(|e| panic!("{e}"));
        let (ftth, adsl, lte) = (get("ftth"), get("adsl"), get("4g"));
        // Fibre is judged stricter on latency than ADSL (interleaving) and 4G.
        assert!(ftth.latency.rtt_median_warn_ms < adsl.latency.rtt_median_warn_ms);
        assert!(ftth.latency.rtt_median_warn_ms < lte.latency.rtt_median_warn_ms);
        assert!(ftth.latency.jitter_warn_ms < lte.latency.jitter_warn_ms);
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let head = "name = \"x\"\nversion = 1\ndescription = \"x\"\n";
        for (body, needle) in [
            (
                "[latency]\nrtt-median-warn-ms = 200\nrtt-median-fail-ms = 100\n",
                "rtt-median-fail-ms",
            ),
            (
                "[wifi]\nsignal-warn-dbm = -90\nsignal-fail-dbm = -70\n",
                "signal-fail-dbm",
            ),
            ("[latency]\nrtt-median-warn = 1\n", "unknown field"),
            ("[speed]\nx = 1\n", "unknown field"),
            ("[latency]\njitter-warn-ms = nan\n", "finite"),
        ] {
            let err = parse("x", &format!("{head}{body}")).expect_err(body).to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
        assert!(
            parse("x", "version = 1\ndescription = \"x\"\n").is_err(),
            "a name is required"
        );
        let err = builtin("fibre").expect_err("unknown").to_string();
        assert!(err.contains("ftth") && err.contains("4g"), "{err}");
    }
}
