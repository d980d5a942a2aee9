//! `vipdeck status --format prometheus`: the node-exporter textfile format
//! (write it to `<textfile dir>/vipdeck.prom` from cron or a timer).
//! A pure function of a [`Report`]; every metric family has `# HELP` and
//! `# TYPE` lines and its samples follow them together.

use chrono::{DateTime, Utc};

use crate::core::model::{Severity, Verdict};
use crate::faces::report::Report;

/// Every verdict, so the one-hot `vipdeck_cluster_verdict` has all labels.
const VERDICTS: [Verdict; 6] = [
    Verdict::Healthy,
    Verdict::Degraded,
    Verdict::Unknown,
    Verdict::VipDrift,
    Verdict::NoMaster,
    Verdict::SplitBrain,
];
const GENERATED: &str = "vipdeck_report_timestamp_seconds";
const STATES: [&str; 5] = ["MASTER", "BACKUP", "FAULT", "STOP", "UNKNOWN"];

/// A label value with `\`, `"` and newlines escaped, as the format requires.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escapes `\` and newlines only.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
    /// Described even without samples: a family the shipped rules name
    /// that is absent most of the time (no maintenance window).
    always: bool,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            samples: Vec::new(),
            always: false,
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        if self.samples.is_empty() && !self.always {
            return;
        }
        out.push_str(&format!(
            "# HELP {} {}\n",
            self.name,
            escape_help(self.help)
        ));
        out.push_str(&format!("# TYPE {} gauge\n", self.name));
        for (labels, value) in &self.samples {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            out.push_str(&format!(
                "{}{{{}}} {}\n",
                self.name,
                l.join(","),
                fmt_value(*value)
            ));
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn unix(t: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// The lint findings as gauges: how many findings of each code and
/// severity each cluster has (codes without findings are absent).
pub fn lint_metrics(findings: &[crate::core::lint::Finding]) -> String {
    let mut counts: std::collections::BTreeMap<(&str, &str, &str), u32> = Default::default();
    for f in findings {
        *counts
            .entry((f.cluster.as_str(), f.code, f.severity.word()))
            .or_default() += 1;
    }
    let mut family = Family::new(
        "vipdeck_lint_findings",
        "Findings of vipdeck lint per cluster, code and severity (docs/lint.md).",
    );
    for ((cluster, code, severity), n) in counts {
        family.add(
            vec![
                ("cluster", cluster.to_string()),
                ("code", code.to_string()),
                ("severity", severity.to_string()),
            ],
            f64::from(n),
        );
    }
    let mut out = String::new();
    family.write(&mut out);
    out
}

/// The textfile for `r`, read at `now`.
pub fn prometheus(r: &Report, now: DateTime<Utc>) -> String {
    let mut verdict = Family::new(
        "vipdeck_cluster_verdict",
        "1 for the cluster's current verdict, 0 for the others.",
    );
    let mut status = Family::new(
        "vipdeck_cluster_status",
        "Monitoring-plugin code of the verdict: 0 ok, 1 warning, 2 critical, 3 unknown.",
    );
    let mut master = Family::new(
        "vipdeck_cluster_master",
        "1 for the peer that is VRRP MASTER, 0 for the other.",
    );
    let mut bound = Family::new(
        "vipdeck_cloud_bound",
        "1 for the peer the cloud binds the VIP to, 0 for the other.",
    );
    let mut binding_age = Family::new(
        "vipdeck_cloud_binding_age_seconds",
        "Age of the last good answer about the cloud binding.",
    );
    let mut flushed = Family::new(
        "vipdeck_cloud_binding_flushed_timestamp_seconds",
        "Last HAVIP rebind (FlushedTime), Unix time.",
    );
    let mut cloud_error = Family::new("vipdeck_cloud_error", "1 when the last cloud poll failed.");
    let mut peer_state = Family::new(
        "vipdeck_peer_state",
        "1 for the peer's VRRP state after the cross-checks, 0 for the others.",
    );
    let mut reachable = Family::new("vipdeck_peer_reachable", "1 when the peer answers.");
    let mut running = Family::new(
        "vipdeck_peer_keepalived_running",
        "1 when keepalived runs on the peer.",
    );
    let mut vip_on_nic = Family::new(
        "vipdeck_peer_vip_on_nic",
        "1 when the VIP is on the peer's NIC.",
    );
    let mut stale = Family::new(
        "vipdeck_peer_stale",
        "1 when the peer's facts are older than the stale threshold.",
    );
    let mut data_age = Family::new(
        "vipdeck_peer_data_age_seconds",
        "Age of the peer's newest facts.",
    );
    let mut peer_transition = Family::new(
        "vipdeck_peer_last_transition_timestamp_seconds",
        "The peer's last VRRP transition, Unix time.",
    );
    let mut cluster_transition = Family::new(
        "vipdeck_cluster_last_transition_timestamp_seconds",
        "The last VRRP transition of either peer, Unix time.",
    );
    let mut maintenance = Family::new(
        "vipdeck_cluster_maintenance",
        "1 while a planned maintenance window (vipdeck maintenance) is open on the cluster; \
         alerting rules hold back on it.",
    );
    let mut maintenance_end = Family::new(
        "vipdeck_cluster_maintenance_end_timestamp_seconds",
        "When the cluster's maintenance window ends (or ended, if expired), Unix time.",
    );
    maintenance_end.always = true;
    let mut master_changes = Family::new(
        "vipdeck_cluster_master_changes",
        "Transitions into MASTER (either peer) in the last hour or day.",
    );
    let mut vip_reachable = Family::new(
        "vipdeck_vip_reachable",
        "1 when the data-plane probe's newest try reached the VIP, 0 when it did not \
         (absent without a probe, or when the probe itself cannot run).",
    );
    let mut vip_rtt = Family::new(
        "vipdeck_vip_rtt_seconds",
        "Round trip of the data-plane probe's newest answer from the VIP.",
    );
    let mut alerts = Family::new(
        "vipdeck_cluster_alerts",
        "How many alerts of each severity the cluster has.",
    );

    for c in &r.clusters {
        let cl = || ("cluster", c.name.clone());
        let open = c.maintenance.as_ref().is_some_and(|w| w.state == "active");
        maintenance.add(vec![cl()], flag(open));
        if let Some(end) = c.maintenance.as_ref().and_then(|w| w.until.as_deref()) {
            if let Some(t) = unix(end) {
                maintenance_end.add(vec![cl()], t);
            }
        }
        for v in VERDICTS {
            verdict.add(
                vec![cl(), ("verdict", v.as_str().to_string())],
                flag(c.verdict == v),
            );
        }
        status.add(vec![cl()], c.verdict.exit_code() as f64);
        if let Some(ms) = c.cloud.age_ms {
            binding_age.add(vec![cl()], ms as f64 / 1000.0);
        }
        if let Some(t) = c.cloud.flushed_time.as_deref().and_then(unix) {
            flushed.add(vec![cl()], t);
        }
        cloud_error.add(vec![cl()], flag(c.cloud.error.is_some()));
        let mut newest: Option<f64> = None;
        for p in &c.peers {
            let pl = || vec![cl(), ("peer", p.name.clone())];
            master.add(pl(), flag(c.master.as_deref() == Some(p.name.as_str())));
            bound.add(
                pl(),
                flag(c.vip_bound_to.as_deref() == Some(p.name.as_str())),
            );
            for s in STATES {
                let mut l = pl();
                l.push(("state", s.to_string()));
                peer_state.add(l, flag(p.vrrp_state == s));
            }
            if let Some(b) = p.reachable {
                reachable.add(pl(), flag(b));
            }
            if let Some(b) = p.keepalived_running {
                running.add(pl(), flag(b));
            }
            if let Some(b) = p.vip_on_nic {
                vip_on_nic.add(pl(), flag(b));
            }
            stale.add(pl(), flag(p.stale));
            if let Some(ms) = p.data_age_ms {
                data_age.add(pl(), ms as f64 / 1000.0);
            }
            if let Some(t) = p.last_transition.as_deref().and_then(unix) {
                peer_transition.add(pl(), t);
                newest = Some(newest.map_or(t, |n: f64| n.max(t)));
            }
        }
        if let Some(t) = newest {
            cluster_transition.add(vec![cl()], t);
        }
        for (window, n) in [
            ("1h", c.flaps.master_changes_1h),
            ("24h", c.flaps.master_changes_24h),
        ] {
            master_changes.add(vec![cl(), ("window", window.to_string())], n as f64);
        }
        if let Some(dp) = &c.dataplane {
            if let Some(b) = dp.reachable {
                vip_reachable.add(vec![cl()], flag(b));
            }
            if let Some(ms) = dp.rtt_ms {
                vip_rtt.add(vec![cl()], ms / 1000.0);
            }
        }
        for s in [Severity::Critical, Severity::Warning, Severity::Info] {
            let n = c.alerts.iter().filter(|a| a.severity == s).count();
            alerts.add(vec![cl(), ("severity", s.as_str().to_string())], n as f64);
        }
    }

    let mut out = String::new();
    for f in [
        &verdict,
        &status,
        &master,
        &bound,
        &binding_age,
        &flushed,
        &cloud_error,
        &peer_state,
        &reachable,
        &running,
        &vip_on_nic,
        &stale,
        &data_age,
        &peer_transition,
        &cluster_transition,
        &master_changes,
        &alerts,
        &maintenance,
        &maintenance_end,
        &vip_reachable,
        &vip_rtt,
    ] {
        f.write(&mut out);
    }
    // The one sample without labels is written without braces.
    out.push_str(&format!(
        "# HELP {GENERATED} When this file was written, Unix time.\n# TYPE {GENERATED} gauge\n\
         {GENERATED} {}\n",
        fmt_value(now.timestamp_millis() as f64 / 1000.0)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(fmt_value(3.0), "3");
        assert_eq!(fmt_value(1.5), "1.500");
    }
}
