//! Remediation actions and the mobile restoration flow's decisions (DESIGN.md §1 and §6).
//!
//! The decisions are pure: [`propose`] picks the action a diagnosis calls for, [`judge`] says
//! whether the re-test after it shows service restored, [`ticket_evidence`] writes the before /
//! after comparison a ticket carries. The runner drives them; a [`Remediator`] does the I/O
//! (Modbus writes to the modem), so the flow is tested with a scripted one.

use std::time::Duration;

use sonde_protocol::{
    ActionInfo, ActionList, Diagnosis, ProblemKind, RemediationOutcome, RunRequest, Segment, Severity,
};

use crate::checks::BoxFuture;
use crate::checks::mobile::{self, MobileOptions, ModemAction};

/// Performs remediation actions on this host's devices.
pub trait Remediator: Send + Sync {
    /// The actions this host can perform now.
    fn available(&self) -> Vec<ModemAction>;
    /// The device the actions act on, as shown in `action` events (`modem 192.0.2.1:502`).
    fn device(&self) -> String;
    /// Performs `action`; `Err` says why it failed, in plain language.
    fn perform(&self, action: ModemAction) -> BoxFuture<'_, Result<(), String>>;
    /// How long to let the device settle after `action` before re-testing.
    fn settle_time(&self, action: ModemAction) -> Duration {
        match action {
            ModemAction::ReconnectData => RECONNECT_SETTLE,
            ModemAction::Reboot => REBOOT_SETTLE,
        }
    }
}

/// A data session takes a moment to come back after a reconnect (attach, PDP context, address).
pub const RECONNECT_SETTLE: Duration = Duration::from_secs(3);
/// A modem restart takes longer (boot, registration, data session).
pub const REBOOT_SETTLE: Duration = Duration::from_secs(60);

/// The action's name on the wire (`action` events, `GET /v1/actions`).
pub fn action_name(action: ModemAction) -> &'static str {
    match action {
        ModemAction::ReconnectData => "reconnect_data_session",
        ModemAction::Reboot => "reset_modem",
    }
}

/// Whether a customer may trigger `action` (with explicit confirmation): reconnecting the data
/// session of their own line is harmless; restarting the modem cuts every user of it, so it is
/// a technician's call.
pub fn customer_allowed(action: ModemAction) -> bool {
    matches!(action, ModemAction::ReconnectData)
}

/// The action the run performs after `diagnosis`, if any: the one the request names
/// (`options.action`, already validated by [`requested`]) when this host can perform it, else
/// what [`propose`] picks.
pub fn chosen(request: &RunRequest, diagnosis: &Diagnosis, available: &[ModemAction]) -> Option<ModemAction> {
    match request.options.action.as_deref() {
        Some(name) => modem_action(name).filter(|action| available.contains(action)),
        None => propose(request, diagnosis, available),
    }
}

/// Whether the client confirmed the flow's action: in advance (`options.confirm_actions`), or by
/// requesting it (`options.action`: the request is the confirmation).
pub fn confirmed(request: &RunRequest) -> bool {
    request.options.confirm_actions || request.options.action.is_some()
}

/// Why a requested action (`options.action`) cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActionError {
    /// Not an action this agent knows.
    #[error("unknown action `{0}` in options.action; this agent knows: {known}", known = known_actions())]
    Unknown(String),
    /// Known, but this host cannot perform it now.
    #[error("action `{action}` is not available on this host: {reason}")]
    Unavailable {
        /// The action's wire name.
        action: String,
        /// Why (the catalogue's detail).
        reason: String,
    },
}

/// Checks `options.action` against what this host can perform (the catalogue of
/// `GET /v1/actions`): `Ok(None)` when the request names no action.
pub fn requested(request: &RunRequest, mobile: &MobileOptions) -> Result<Option<ModemAction>, ActionError> {
    let Some(name) = request.options.action.as_deref() else {
        return Ok(None);
    };
    let catalogue = catalogue(mobile);
    let Some(info) = catalogue.actions.iter().find(|a| a.action == name) else {
        return Err(ActionError::Unknown(name.to_owned()));
    };
    match modem_action(name) {
        Some(action) if info.available => Ok(Some(action)),
        _ => Err(ActionError::Unavailable {
            action: name.to_owned(),
            reason: info.detail.clone().unwrap_or_else(|| "no mechanism for it".to_owned()),
        }),
    }
}

/// The modem action named `name` on the wire.
pub fn modem_action(name: &str) -> Option<ModemAction> {
    [ModemAction::ReconnectData, ModemAction::Reboot]
        .into_iter()
        .find(|action| action_name(*action) == name)
}

/// The action the restoration flow proposes after `diagnosis`, if any: on a "mobile" problem
/// whose diagnosis points beyond the box (the mobile radio, the access, the operator's
/// network), reconnect the data session when the modem supports it.
pub fn propose(request: &RunRequest, diagnosis: &Diagnosis, available: &[ModemAction]) -> Option<ModemAction> {
    let wanted = ModemAction::ReconnectData;
    (request.problem == ProblemKind::Mobile && points_at_data_session(diagnosis) && available.contains(&wanted))
        .then_some(wanted)
}

/// `restored` when the re-test no longer shows a fault the action could fix, else
/// `not_restored`. The outcome describes the service *after* the action, whatever it was
/// before: a requested action on a line that was already healthy is `restored` when the re-test
/// is still healthy (the action did no harm), `not_restored` when it now shows such a fault.
pub fn judge(after: &Diagnosis) -> RemediationOutcome {
    if points_at_data_session(after) {
        RemediationOutcome::NotRestored
    } else {
        RemediationOutcome::Restored
    }
}

/// The evidence summary of a ticket opened after a failed remediation: what was done, then
/// the measurements before and after it.
pub fn ticket_evidence(action: ModemAction, before: &Diagnosis, after: &Diagnosis) -> String {
    format!(
        "self-care `{}` did not restore service; before: {}; after: {}",
        action_name(action),
        summary(before),
        summary(after)
    )
}

/// What `GET /v1/actions` lists: the modem's actions when a modem is configured, and the box
/// actions this agent has no safe mechanism for, marked unavailable.
pub fn catalogue(mobile: &MobileOptions) -> ActionList {
    let modem = mobile
        .modem
        .map(|addr| format!("modem {addr} ({})", mobile.map.name().as_str()));
    let supported = mobile::actions(&mobile.map);
    let mut actions: Vec<ActionInfo> = [
        (
            ModemAction::ReconnectData,
            "Tear down and re-establish the mobile data session",
        ),
        (
            ModemAction::Reboot,
            "Restart the mobile modem (cuts every user of it for a minute)",
        ),
    ]
    .into_iter()
    .map(|(action, description)| {
        let available = modem.is_some() && supported.contains(&action);
        ActionInfo {
            action: action_name(action).to_owned(),
            description: description.to_owned(),
            available,
            detail: match &modem {
                Some(device) if available => Some(device.clone()),
                Some(_) => Some("the modem's register map has no such action".to_owned()),
                None => Some("no modem configured ([mobile] modem)".to_owned()),
            },
            customer_allowed: customer_allowed(action),
        }
    })
    .collect();
    actions.extend([
        ActionInfo {
            action: "restart_wifi_radio".to_owned(),
            description: "Restart the box's WiFi radio".to_owned(),
            available: false,
            detail: Some("not available on this host: the agent has no interface to the box's radio".to_owned()),
            customer_allowed: false,
        },
        ActionInfo {
            action: "renew_dhcp".to_owned(),
            description: "Renew the DHCP lease of the box's WAN interface".to_owned(),
            available: false,
            detail: Some("not available on this host: the agent does not drive the DHCP client".to_owned()),
            customer_allowed: false,
        },
    ]);
    ActionList { actions }
}

/// The real remediator: Modbus writes to the configured modem.
#[derive(Debug)]
pub struct ModemRemediator {
    options: MobileOptions,
}

impl ModemRemediator {
    /// A remediator for the modem of `options`, or `None` when no modem is configured.
    pub fn new(options: &MobileOptions) -> Option<Self> {
        options.modem.map(|_| Self {
            options: options.clone(),
        })
    }
}

impl Remediator for ModemRemediator {
    fn available(&self) -> Vec<ModemAction> {
        mobile::actions(&self.options.map)
    }

    fn device(&self) -> String {
        match self.options.modem {
            Some(addr) => format!("modem {addr}"),
            None => "modem".to_owned(),
        }
    }

    fn perform(&self, action: ModemAction) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { mobile::perform(&self.options, action).await.map_err(|e| e.to_string()) })
    }
}

/// The names of every action the catalogue knows, for error messages.
fn known_actions() -> String {
    catalogue(&MobileOptions::default())
        .actions
        .into_iter()
        .map(|a| a.action)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Segments where a stale data session shows: no service on the radio, or no traffic beyond
/// the box.
fn points_at_data_session(diagnosis: &Diagnosis) -> bool {
    !diagnosis.healthy
        && diagnosis.findings.iter().any(|f| {
            f.severity.rank() > Severity::Info.rank()
                && matches!(
                    f.segment,
                    Segment::MobileRadio | Segment::AccessLine | Segment::OperatorNetwork
                )
        })
}

/// `CODE (metric = value, …)` per finding above info, or `healthy`.
fn summary(diagnosis: &Diagnosis) -> String {
    let findings: Vec<String> = diagnosis
        .findings
        .iter()
        .filter(|f| f.severity.rank() > Severity::Info.rank())
        .map(|f| {
            let evidence: Vec<String> = f
                .evidence
                .iter()
                .map(|e| format!("{} = {}", e.metric, serde_json::to_string(&e.value).unwrap_or_default()))
                .collect();
            format!("{} ({})", f.code, evidence.join(", "))
        })
        .collect();
    if findings.is_empty() {
        "healthy".to_owned()
    } else {
        findings.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_protocol::{Actor, Confidence, Evidence, Finding, FindingCode, Lang, ProfileRef, RunOptions};

    fn finding(code: FindingCode, severity: Severity, segment: Segment) -> Finding {
        Finding {
            code,
            severity,
            segment,
            actor: Actor::Operator,
            confidence: Confidence::High,
            root_cause: true,
            title: String::new(),
            detail: String::new(),
            actions: Vec::new(),
            evidence: vec![Evidence {
                check: sonde_protocol::CheckId::InternetLatency,
                metric: "anchors_answering".to_owned(),
                value: 0u64.into(),
                threshold: None,
            }],
        }
    }

    fn diagnosis(findings: Vec<Finding>) -> Diagnosis {
        Diagnosis {
            healthy: !findings.iter().any(|f| f.severity.rank() > Severity::Info.rank()),
            summary: String::new(),
            operator_must_act: findings.iter().any(|f| f.actor == Actor::Operator),
            findings,
            profile: ProfileRef {
                name: "4g".to_owned(),
                version: 1,
            },
            lang: Lang::En,
        }
    }

    fn request(problem: ProblemKind) -> RunRequest {
        RunRequest {
            problem,
            options: RunOptions::default(),
            ..RunRequest::default()
        }
    }

    #[test]
    fn reconnect_is_proposed_only_for_a_mobile_fault_beyond_the_box() {
        use FindingCode as C;
        use Segment as S;
        let both = [ModemAction::ReconnectData, ModemAction::Reboot];
        /// Problem, findings, the modem's actions → the proposal.
        type Case<'a> = (ProblemKind, Vec<Finding>, &'a [ModemAction], Option<ModemAction>);
        let cases: &[Case<'_>] = &[
            (
                ProblemKind::Mobile,
                vec![finding(C::InternetUnreachable, Severity::Critical, S::AccessLine)],
                &both,
                Some(ModemAction::ReconnectData),
            ),
            (
                ProblemKind::Mobile,
                vec![finding(C::MobileNoService, Severity::Critical, S::MobileRadio)],
                &both,
                Some(ModemAction::ReconnectData),
            ),
            // Healthy, or the fault is at home: nothing to reconnect.
            (ProblemKind::Mobile, vec![], &both, None),
            (
                ProblemKind::Mobile,
                vec![finding(C::InternetUnreachable, Severity::Critical, S::Wifi)],
                &both,
                None,
            ),
            (
                ProblemKind::Mobile,
                vec![finding(C::InternetUnreachable, Severity::Info, S::AccessLine)],
                &both,
                None,
            ),
            // Not the mobile flow, or the modem cannot do it.
            (
                ProblemKind::NoInternet,
                vec![finding(C::InternetUnreachable, Severity::Critical, S::AccessLine)],
                &both,
                None,
            ),
            (
                ProblemKind::Mobile,
                vec![finding(C::InternetUnreachable, Severity::Critical, S::AccessLine)],
                &[ModemAction::Reboot],
                None,
            ),
        ];
        for (problem, findings, available, expected) in cases {
            let d = diagnosis(findings.clone());
            assert_eq!(
                propose(&request(*problem), &d, available),
                *expected,
                "{problem} {findings:?}"
            );
        }
    }

    #[test]
    fn the_re_test_decides_restored_or_not() {
        let broken = diagnosis(vec![finding(
            FindingCode::InternetUnreachable,
            Severity::Critical,
            Segment::AccessLine,
        )]);
        assert_eq!(judge(&broken), RemediationOutcome::NotRestored);
        assert_eq!(judge(&diagnosis(vec![])), RemediationOutcome::Restored);
        // A fault the reconnect cannot touch does not make it "not restored".
        let wifi = diagnosis(vec![finding(
            FindingCode::WifiWeakSignal,
            Severity::Warning,
            Segment::Wifi,
        )]);
        assert_eq!(judge(&wifi), RemediationOutcome::Restored);
    }

    #[test]
    fn the_ticket_evidence_holds_both_measurements() {
        let broken = diagnosis(vec![finding(
            FindingCode::InternetUnreachable,
            Severity::Critical,
            Segment::AccessLine,
        )]);
        let text = ticket_evidence(ModemAction::ReconnectData, &broken, &broken);
        assert_eq!(
            text,
            "self-care `reconnect_data_session` did not restore service; \
             before: INTERNET_UNREACHABLE (anchors_answering = 0); after: INTERNET_UNREACHABLE (anchors_answering = 0)"
        );
    }

    #[test]
    fn the_catalogue_lists_modem_actions_and_unavailable_box_actions() {
        let none = catalogue(&MobileOptions::default());
        assert!(none.actions.iter().all(|a| !a.available), "{none:?}");
        let options = MobileOptions {
            modem: Some("192.0.2.1:502".parse().expect("addr")),
            ..MobileOptions::default()
        };
        let list = catalogue(&options);
        let available: Vec<_> = list
            .actions
            .iter()
            .filter(|a| a.available)
            .map(|a| a.action.as_str())
            .collect();
        assert_eq!(available, ["reconnect_data_session", "reset_modem"]);
        assert!(
            list.actions
                .iter()
                .any(|a| a.action == "renew_dhcp" && !a.available && a.detail.is_some())
        );
    }

    #[test]
    fn a_requested_action_is_checked_against_the_catalogue_and_replaces_the_proposal() {
        let with = |action: Option<&str>| RunRequest {
            problem: ProblemKind::Mobile,
            options: RunOptions {
                action: action.map(str::to_owned),
                ..RunOptions::default()
            },
            ..RunRequest::default()
        };
        let modem = MobileOptions {
            modem: Some("192.0.2.1:502".parse().expect("addr")),
            ..MobileOptions::default()
        };
        assert_eq!(requested(&with(None), &modem), Ok(None));
        assert_eq!(
            requested(&with(Some("reset_modem")), &modem),
            Ok(Some(ModemAction::Reboot))
        );
        assert!(matches!(
            requested(&with(Some("reconnect_data_session")), &MobileOptions::default()),
            Err(ActionError::Unavailable { .. })
        ));
        assert!(matches!(
            requested(&with(Some("renew_dhcp")), &modem),
            Err(ActionError::Unavailable { .. })
        ));
        assert_eq!(
            requested(&with(Some("reboot")), &modem),
            Err(ActionError::Unknown("reboot".to_owned())),
            "wire names only, not the modem map's"
        );

        // Requested: performed whatever the diagnosis says, when the modem can.
        let healthy = diagnosis(vec![]);
        let both = [ModemAction::ReconnectData, ModemAction::Reboot];
        assert_eq!(
            chosen(&with(Some("reset_modem")), &healthy, &both),
            Some(ModemAction::Reboot)
        );
        assert_eq!(
            chosen(&with(Some("reset_modem")), &healthy, &[ModemAction::ReconnectData]),
            None
        );
        assert_eq!(
            chosen(&with(None), &healthy, &both),
            None,
            "nothing proposed on a healthy line"
        );
        assert!(confirmed(&with(Some("reset_modem"))), "the request is the confirmation");
        assert!(!confirmed(&with(None)));
    }
}
