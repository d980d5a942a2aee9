//! The plan on one screen: the method, what moves, the checks that do not
//! pass, how many steps, the expected time. The wizard shows it when the
//! terminal is too small for the whole plan (which stays a key away).

use std::time::Duration;

use crate::core::model::Mode;

use super::plan::{CheckStatus, Method, Plan, StepKind};

/// How long a step usually takes when nothing goes wrong: the figures the
/// summary adds up (a rehearsal on a twin measures them instead).
fn typical(plan: &Plan, kind: &StepKind) -> Duration {
    let ms = Duration::from_millis;
    match kind {
        StepKind::AcquireLock | StepKind::ReleaseLock | StepKind::Verify => ms(200),
        StepKind::StopKeepalived { .. } => ms(500),
        // The leaving master sends priority 0: the backup takes over at
        // once; a dead one is noticed after the master-down interval.
        StepKind::WaitMaster { .. } if plan.old_master_dead => ms(3_600),
        StepKind::WaitMaster { .. } => ms(300),
        StepKind::Garp { .. } => ms(100),
        StepKind::MigrateIp { .. } => ms(2_000),
        StepKind::WaitBinding { .. } => match (plan.mode, plan.method) {
            (Mode::Eni, Method::Forced) => ms(300),
            (Mode::Eni, Method::Graceful) => ms(2_000),
            // keepalived's first GARP comes a second after the transition.
            (Mode::Havip, Method::Graceful) => ms(3_000),
            (Mode::Havip, Method::Forced) => ms(2_000),
        },
        StepKind::StartKeepalived { .. } => ms(600),
        StepKind::WaitBackup { .. } => ms(300),
    }
}

/// The expected time of the whole plan, from typical step times.
pub(crate) fn expected(plan: &Plan) -> Duration {
    plan.steps.iter().map(|s| typical(plan, &s.kind)).sum()
}

/// The plan in a few lines; `full_key` names the key that shows it all.
pub(crate) fn summary(plan: &Plan, full_key: &str) -> Vec<String> {
    let t = plan.target_name();
    let mut out = vec![format!(
        "Failover summary: cluster {} ({} mode, VIP {})",
        plan.cluster, plan.mode, plan.vip
    )];
    let method = match plan.method {
        Method::Graceful => "graceful (keepalived and its notify script move the VIP)",
        Method::Forced => match plan.mode {
            Mode::Eni => "forced (vipdeck migrates the cloud binding: MigratePrivateIpAddress)",
            Mode::Havip => "forced (vipdeck re-announces the VIP: gratuitous ARP)",
        },
    };
    out.push(format!("  Method:       {method}"));
    let from = plan.source_name().unwrap_or("(no master)");
    let binding = match plan.mode {
        Mode::Eni => "the ENI's private IP",
        Mode::Havip => "the HAVIP",
    };
    out.push(format!(
        "  What moves:   VIP {} {from} → {t}; cloud binding ({binding}) → {t}",
        plan.vip
    ));
    let not_passing: Vec<String> = plan
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Pass)
        .map(|c| {
            let over = if c.overridden { " (overridden)" } else { "" };
            format!("    [{}] {}{over}: {}", c.status.as_str(), c.id, c.reason)
        })
        .collect();
    if not_passing.is_empty() {
        out.push(format!("  Checks:       all {} pass", plan.checks.len()));
    } else {
        out.push(format!(
            "  Checks:       {} of {} not passing:",
            not_passing.len(),
            plan.checks.len()
        ));
        out.extend(not_passing);
    }
    let steps = plan.steps.len();
    out.push(format!(
        "  Steps:        {steps} ({full_key}: the full plan)"
    ));
    out.push(format!(
        "  Expected:     about {:.0}s (typical step times)",
        expected(plan).as_secs_f64().ceil()
    ));
    if plan.blocked() {
        out.push("  BLOCKED: a check failed; nothing will be changed.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::session::fake;

    #[test]
    fn the_summary_says_method_moves_checks_steps_and_time() {
        let mut plan = fake::plan_for(&Default::default(), &fake::request());
        for kind in [
            StepKind::AcquireLock,
            StepKind::StopKeepalived { peer: 0 },
            StepKind::WaitMaster { peer: 1 },
            StepKind::WaitBinding {
                peer: 1,
                flushed_before: None,
            },
            StepKind::Verify,
        ] {
            plan.steps.push(crate::failover::plan::Step {
                kind,
                description: String::new(),
                action: String::new(),
                timeout_ms: 1000,
                verify: String::new(),
            });
        }
        let lines = summary(&plan, "Tab");
        let text = lines.join("\n");
        assert!(text.contains("Method:       graceful"), "{text}");
        assert!(text.contains("What moves:   VIP"), "{text}");
        assert!(text.contains("→ n2"), "{text}");
        assert!(
            text.contains(&format!(
                "Steps:        {} (Tab: the full plan)",
                plan.steps.len()
            )),
            "{text}"
        );
        assert!(text.contains("Expected:     about"), "{text}");
        // A failing check is named with its reason, and the plan is blocked.
        if let Some(c) = plan.checks.first_mut() {
            c.status = CheckStatus::Fail;
            c.reason = "why it fails".into();
        }
        let text = summary(&plan, "Tab").join("\n");
        assert!(text.contains("not passing:"), "{text}");
        assert!(text.contains("why it fails"), "{text}");
        assert!(text.contains("BLOCKED"), "{text}");
        assert!(expected(&plan) > Duration::ZERO);
    }
}
