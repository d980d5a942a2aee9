//! The checks on the cloud: its API answers with valid credentials, and it
//! lets the target hold the VIP.

use crate::core::model::Mode;

use super::{ago, Checks, Ctx};

/// The cloud: reachable with valid credentials.
pub(super) fn check_cloud(ctx: &Ctx, checks: &mut Checks) {
    let needs_api = ctx.needs_api();
    match (&ctx.snap.cloud.error, &ctx.snap.cloud.binding) {
        (Some((e, _)), _) => {
            let creds = e.contains("AuthFailure") || e.contains("credential");
            let what = if creds {
                "the cloud refuses the credentials"
            } else {
                "the cloud API cannot be reached"
            };
            checks.fail(
                "cloud_reachable",
                format!(
                    "{what}: {e}{}",
                    if needs_api {
                        ""
                    } else {
                        "; the cloud binding could not be verified"
                    }
                ),
                !needs_api,
            );
        }
        (None, Some(b)) => checks.pass(
            "cloud_reachable",
            format!(
                "the cloud API answers (binding read {} ago)",
                ago(ctx.now, b.at)
            ),
        ),
        (None, None) => checks.fail(
            "cloud_reachable",
            "the cloud binding has not been read yet".into(),
            !needs_api,
        ),
    }
}

/// The target may hold the VIP; a forced ENI move knows both ENIs.
pub(super) fn check_target_allowed(ctx: &Ctx, checks: &mut Checks) {
    let tname = ctx.tname();
    match &ctx.gathered.target_allowed {
        Some(Ok(())) => checks.pass(
            "target_allowed",
            match ctx.cluster.mode {
                Mode::Eni => format!("{tname}'s ENI is in the same subnet as the bound ENI"),
                Mode::Havip => format!("{tname} is inside the HAVIP's drift range"),
            },
        ),
        Some(Err(e)) => checks.fail("target_allowed", e.clone(), false),
        None => checks.warn(
            "target_allowed",
            "whether the cloud lets the target hold the VIP was not checked".into(),
        ),
    }
    if ctx.needs_api() {
        match (ctx.target_eni(), ctx.bound_eni()) {
            (Some(_), Some(_)) => {}
            (None, _) => checks.fail(
                "eni_known",
                format!("{tname} has no network_interface_id in the config"),
                false,
            ),
            (_, None) => checks.fail(
                "eni_known",
                "the cloud does not say which ENI holds the VIP".into(),
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::failover::plan::testkit::*;
    use crate::failover::plan::*;

    #[test]
    fn a_target_outside_the_subnet_or_drift_range_blocks() {
        let (c, cfg) = healthy("eni");
        let g = Gathered {
            target_allowed: Some(Err("eni-2 is in subnet-b".into())),
            ..Default::default()
        };
        let p = run(&c, &cfg, &forced("n2"), &g);
        assert_eq!(status(&p, "target_allowed"), CheckStatus::Fail);
        assert!(p.blocked());
        let p = run(&c, &cfg, &request("n2"), &Gathered::default());
        assert_eq!(status(&p, "target_allowed"), CheckStatus::Warn);
        assert!(!p.blocked());
    }
}
