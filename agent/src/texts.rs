//! Localised texts (Fluent). The messages live in `agent/locales/{fr,en}.ftl`; this module only
//! looks them up. French is the default language.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use sonde_protocol::Lang;

const FR: &str = include_str!("../locales/fr.ftl");
const EN: &str = include_str!("../locales/en.ftl");

/// The texts of one language.
pub struct Texts {
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Texts").finish_non_exhaustive()
    }
}

/// Named arguments of a message: `("gateway", "192.0.2.1".into())`.
pub type Args<'a> = &'a [(&'a str, FluentValue<'a>)];

/// The texts of `lang`.
pub fn texts(lang: Lang) -> &'static Texts {
    static FR_TEXTS: OnceLock<Texts> = OnceLock::new();
    static EN_TEXTS: OnceLock<Texts> = OnceLock::new();
    match lang {
        Lang::En => EN_TEXTS.get_or_init(|| Texts::new("en", EN)),
        _ => FR_TEXTS.get_or_init(|| Texts::new("fr", FR)),
    }
}

impl Texts {
    fn new(tag: &str, source: &'static str) -> Self {
        // The .ftl files are part of this crate and checked by the tests below; a parse error
        // there is a build defect, not a runtime condition.
        let resource = FluentResource::try_new(source.to_owned())
            .unwrap_or_else(|(_, errors)| panic!("{tag}.ftl does not parse: {errors:?}"));
        let langid = tag.parse().unwrap_or_default();
        let mut bundle = FluentBundle::new_concurrent(vec![langid]);
        // Unicode isolation marks around placeables break terminals and JSON readers.
        bundle.set_use_isolating(false);
        if let Err(errors) = bundle.add_resource(resource) {
            panic!("{tag}.ftl has conflicting messages: {errors:?}");
        }
        Self { bundle }
    }

    /// The message `id`, formatted with `args`. A missing message yields its id, so a gap in a
    /// translation shows instead of crashing.
    pub fn message(&self, id: &str, args: Args<'_>) -> String {
        self.format(id, None, args)
    }

    /// The attribute `attr` of message `id` (`.detail`, `.customer`, `.technician`).
    pub fn attribute(&self, id: &str, attr: &str, args: Args<'_>) -> String {
        self.format(id, Some(attr), args)
    }

    /// Whether message `id` exists (with attribute `attr`, when given).
    pub fn has(&self, id: &str, attr: Option<&str>) -> bool {
        match (self.bundle.get_message(id), attr) {
            (Some(m), Some(a)) => m.get_attribute(a).is_some(),
            (Some(m), None) => m.value().is_some(),
            (None, _) => false,
        }
    }

    fn format(&self, id: &str, attr: Option<&str>, args: Args<'_>) -> String {
        let Some(message) = self.bundle.get_message(id) else {
            return id.to_owned();
        };
        let pattern = match attr {
            Some(a) => message.get_attribute(a).map(|a| a.value()),
            None => message.value(),
        };
        let Some(pattern) = pattern else {
            return format!("{id}.{}", attr.unwrap_or_default());
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, value.clone());
        }
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, Some(&fluent_args), &mut errors)
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::{CheckId, FindingCode, ProblemKind};

    #[test]
    fn every_finding_code_has_every_text_in_every_language() {
        for lang in [Lang::Fr, Lang::En] {
            let t = texts(lang);
            for code in FindingCode::ALL {
                for attr in [None, Some("detail"), Some("customer"), Some("technician")] {
                    assert!(t.has(code.as_str(), attr), "{lang:?}: {code} {attr:?} missing");
                }
            }
        }
    }

    #[test]
    fn every_check_and_problem_has_a_name() {
        let checks = [
            CheckId::Link,
            CheckId::Gateway,
            CheckId::Dns,
            CheckId::Throughput,
            CheckId::Wifi,
        ];
        for lang in [Lang::Fr, Lang::En] {
            let t = texts(lang);
            for check in checks {
                assert!(t.has(&format!("check-{check}"), None), "{lang:?}: check-{check}");
            }
            for problem in ProblemKind::ALL {
                assert!(
                    t.has(&format!("problem-{problem}"), None),
                    "{lang:?}: problem-{problem}"
                );
            }
        }
    }

    #[test]
    fn arguments_are_substituted_without_isolation_marks() {
        let text = texts(Lang::En).attribute(
            "GATEWAY_UNREACHABLE",
            "detail",
            &[("gateway", "192.0.2.1".into()), ("probes", 10.into())],
        );
        assert_eq!(
            text,
            "The gateway 192.0.2.1 answered none of 10 ICMP echo requests, although the link is up."
        );
    }
}
