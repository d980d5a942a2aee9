//! The preflight checks: each looks at the plan's inputs with the target
//! known ([`Ctx`]) and passes, warns or fails (overridably or with a fix),
//! and the preempt trap decides whether the old master is left stopped.
//! The checks themselves, by theme: [`peers`] (the pair itself), [`cloud`],
//! [`activity`] (locks, maintenance, recent moves), [`preempt`].

use chrono::{DateTime, Utc};

use crate::core::config::ClusterConfig;
use crate::core::model::{ClusterSnapshot, ConfigSummary, Mode};
use crate::core::verdict::Assessment;

use super::{Check, CheckStatus, Fix, Gathered, Method, Request, Settings};

mod activity;
mod cloud;
mod peers;
mod preempt;

pub(super) struct Checks {
    pub(super) list: Vec<Check>,
    pub(super) overrides: Vec<String>,
}

impl Checks {
    pub(super) fn push(
        &mut self,
        id: &str,
        status: CheckStatus,
        reason: String,
        overridable: bool,
    ) {
        let overridden =
            status == CheckStatus::Fail && overridable && self.overrides.iter().any(|o| o == id);
        self.list.push(Check {
            id: id.to_string(),
            status,
            reason,
            overridable,
            overridden,
            fix: None,
        });
    }
    /// A failure that `fix` clears.
    pub(super) fn fail_fix(&mut self, id: &str, reason: String, fix: Fix) {
        self.push(id, CheckStatus::Fail, reason, false);
        if let Some(c) = self.list.last_mut() {
            c.fix = Some(fix);
        }
    }
    pub(super) fn pass(&mut self, id: &str, reason: String) {
        self.push(id, CheckStatus::Pass, reason, false);
    }
    pub(super) fn warn(&mut self, id: &str, reason: String) {
        self.push(id, CheckStatus::Warn, reason, false);
    }
    pub(super) fn fail(&mut self, id: &str, reason: String, overridable: bool) {
        self.push(id, CheckStatus::Fail, reason, overridable);
    }
}

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    crate::core::humanize::duration((now - at).to_std().unwrap_or_default())
}

/// What the checks look at: the inputs of [`plan`], with the target known.
pub(super) struct Ctx<'a> {
    pub(super) snap: &'a ClusterSnapshot,
    pub(super) assessment: &'a Assessment,
    pub(super) cluster: &'a ClusterConfig,
    pub(super) request: &'a Request,
    pub(super) gathered: &'a Gathered,
    pub(super) settings: &'a Settings,
    pub(super) now: DateTime<Utc>,
    pub(super) names: [String; 2],
    /// The target and the other peer.
    pub(super) t: usize,
    pub(super) other: usize,
}

impl Ctx<'_> {
    pub(super) fn tname(&self) -> &str {
        &self.names[self.t]
    }
    pub(super) fn oname(&self) -> &str {
        &self.names[self.other]
    }
    /// Facts fresh enough to act on.
    fn fresh(&self, i: usize) -> bool {
        self.snap.peers[i]
            .reachable
            .as_ref()
            .is_some_and(|f| f.value && !f.is_stale(self.now, self.settings.facts_fresh))
    }
    fn conf(&self, i: usize) -> Option<&ConfigSummary> {
        self.snap.peers[i].config.as_ref().map(|f| &f.value)
    }
    fn unreachable_why(&self, i: usize) -> String {
        self.snap.peers[i]
            .error
            .clone()
            .unwrap_or_else(|| "no recent probe answer".into())
    }
    /// Forced ENI moves call the cloud API themselves.
    fn needs_api(&self) -> bool {
        self.request.method == Method::Forced && self.cluster.mode == Mode::Eni
    }
    pub(super) fn bound_eni(&self) -> Option<String> {
        self.snap
            .cloud
            .binding
            .as_ref()
            .and_then(|b| b.value.network_interface_id.clone())
    }
    pub(super) fn target_eni(&self) -> Option<String> {
        self.cluster.peers[self.t].network_interface_id.clone()
    }
}

/// Every check once the target is known, in the order they are shown;
/// then the preempt trap: whether the old master is left stopped, and
/// the note that says so.
pub(super) fn all(
    ctx: &Ctx,
    checks: &mut Checks,
    target_is_master: bool,
    stops_old: bool,
) -> (bool, Option<String>) {
    peers::check_reachability(ctx, checks);
    peers::check_target(ctx, checks);
    peers::check_single_master(ctx, checks);
    peers::check_configs(ctx, checks);
    cloud::check_cloud(ctx, checks);
    cloud::check_target_allowed(ctx, checks);
    activity::check_lock(ctx, checks);
    activity::check_maintenance(ctx, checks);
    activity::check_flapping(ctx, checks, target_is_master);
    preempt::check_other_stopped(ctx, checks, target_is_master);
    preempt::preempt(ctx, checks, stops_old)
}
