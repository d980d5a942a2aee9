//! The order alerts are listed in: one rule for every face.

use crate::core::model::{Alert, Severity};

use super::FAILED_ACTION;

/// The order alerts are listed in, everywhere (dashboard, `status`,
/// `check`, exports): most severe first, then what the operator must act
/// on before what explains it. A countdown or a drift is the decision at
/// hand; a witness that disagrees ("state file says…") is background.
pub(crate) fn alert_order(a: &Alert) -> (std::cmp::Reverse<Severity>, u8) {
    (std::cmp::Reverse(a.severity), actionability(&a.code))
}

/// 0: the verdict's own alert (what is wrong with the VIP, or how long
/// until it should be right); 1: a peer's service; 2: the quality of the
/// witnesses and the data. Codes not named here sit in the middle.
fn actionability(code: &str) -> u8 {
    match code {
        "two_masters"
        | "vip_on_both"
        | "cloud_binding_mismatch"
        | "binding_left_by_flap"
        // Something failed that no success has undone: act, or acknowledge.
        | FAILED_ACTION
        | "cloud_unbound"
        | "no_master"
        | "converging"
        | "handover"
        | "leftover_vip"
        | "vip_missing_on_master"
        | "vip_unreachable"
        | "vip_answered_by_other"
        | "master_inferred"
        | "not_enough_facts" => 0,
        "stale_state_file"
        | "witnesses_disagree"
        | "no_keepalived_witness"
        | "state_file_garbage"
        | "peer_stale"
        | "peer_not_seen"
        | "cloud_stale"
        | "cloud_error"
        | "cloud_not_seen"
        | "clock_skew"
        | "vip_answers_despite_binding"
        | "probe_error"
        | "probe_stale" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_list_what_to_act_on_before_what_explains_it() {
        let mut alerts = [
            Alert::new(Severity::Info, "cloud_not_seen", "i"),
            Alert::new(Severity::Warning, "stale_state_file", "state file says…"),
            Alert::new(Severity::Warning, "peer_fault", "FAULT"),
            Alert::new(Severity::Warning, "converging", "… (8s left)"),
            Alert::new(Severity::Critical, "leftover_vip", "leftover"),
            Alert::new(Severity::Critical, "cloud_binding_mismatch", "drift"),
        ];
        alerts.sort_by_key(alert_order);
        let order: Vec<&str> = alerts.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(
            order,
            [
                "leftover_vip",
                "cloud_binding_mismatch",
                "converging",
                "peer_fault",
                "stale_state_file",
                "cloud_not_seen"
            ]
        );
    }
}
