//! What the planner needs beyond the snapshot — each peer's lock file, the
//! audit trail's last failover, the cloud's word on the target — and then
//! the plan.

use super::super::audit;
use super::super::hands::PeerAction;
use super::super::lock::{self, LockView};
use super::super::plan::{self, Gathered, Plan, Request};
use super::Executor;

impl Executor {
    /// Reads what the planner needs beyond the snapshot.
    pub(crate) async fn gather(&mut self, audit_path: Option<&std::path::Path>) -> Gathered {
        let mut g = Gathered {
            lock_dir: Some(self.hands.lock_dir()),
            operator: lock::who(),
            ..Gathered::default()
        };
        let mut early = self.early_locks.take().map(|r| r.map(Some));
        for i in 0..2 {
            let read = match early.as_mut().and_then(|e| e[i].take()) {
                Some(r) => Some(r),
                None if self.fresh(i) => {
                    Some(self.run_on(i, PeerAction::LockRead, self.cmd_timeout).await)
                }
                None => None,
            };
            g.locks[i] = if self.fresh(i) {
                match read.unwrap_or_else(|| Err("not read".into())) {
                    Ok((out, _)) => match lock::parse_read(&out) {
                        LockView::Held(h) if h.holder_gone() => LockView::Abandoned(h),
                        v => v,
                    },
                    Err(e) => LockView::Unknown(e),
                }
            } else {
                LockView::Unknown("peer not reachable".into())
            };
        }
        for i in 0..2 {
            if self.fresh(i) {
                if let Ok((out, _)) = self
                    .run_on(i, PeerAction::MaintenanceRead, self.cmd_timeout)
                    .await
                {
                    g.maintenance[i] = crate::core::marker::parse_read(&out).ok();
                }
            }
        }
        if let Some(p) = audit_path {
            let read = audit::read_all(p);
            g.audit_damage = audit::damage_note(&read, p);
            if let Ok((recs, _)) = read {
                g.last_failover = audit::last_failover(&recs, &self.cluster.name);
            }
        }
        g.target_allowed = None;
        g
    }

    /// Gathers, then plans.
    pub async fn plan(&mut self, request: &Request, audit_path: Option<&std::path::Path>) -> Plan {
        let mut g = self.gather(audit_path).await;
        if let Some(t) = self.cluster.peer_index(&request.target) {
            g.target_allowed = self.target_allowed(t).await;
        }
        let (a, now) = self.assess();
        let mut p = plan::plan(
            self.snapshot(),
            &a,
            &self.cluster,
            request,
            &g,
            &self.settings,
            now,
        );
        if let (Some(e), false) = (
            &self.hands.cloud_error(),
            p.check("cloud_reachable")
                .is_some_and(|c| c.status == plan::CheckStatus::Fail),
        ) {
            p.notes.push(format!("cloud client: {e}"));
        }
        p
    }
}
