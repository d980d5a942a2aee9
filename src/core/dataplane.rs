//! The data-plane witness, pure part: what a cluster's `probe` names, what
//! one probe of the VIP found, and the short history of answers that a
//! later interruption measurement reads. The probing itself (sockets,
//! timers) is in `sources::dataplane`.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::sanitize;

/// How much of an answer (status line, headers, body) a probe reads: a
/// service behind the VIP is not trusted to be small.
pub const MAX_ANSWER_BYTES: usize = 4096;

/// Results kept per cluster, newest last: enough to find the first failed
/// and the first good answer around a takeover.
pub const HISTORY_LEN: usize = 64;

/// The longest node name taken from an answer.
const MAX_NODE_CHARS: usize = 64;

/// Where an HTTP probe connects: the cluster's VIP (`VIP` in the URL) or a
/// literal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeHost {
    Vip,
    Literal(String),
}

/// A cluster's `probe`: what is asked of the VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// `tcp:PORT`: a connect that completes is an answer.
    Tcp { port: u16 },
    /// `http://HOST:PORT/PATH`: a GET whose status is 2xx or 3xx.
    Http {
        host: ProbeHost,
        port: u16,
        path: String,
    },
}

/// Why a `probe` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpecError(pub String);

impl fmt::Display for ProbeSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ProbeTarget {
    /// Reads `tcp:PORT` or `http://HOST[:PORT]/PATH`.
    pub fn parse(text: &str) -> Result<ProbeTarget, ProbeSpecError> {
        let bad = |why: &str| ProbeSpecError(format!("{text:?}: {why}"));
        if text == "icmp" {
            // Unprivileged ICMP needs net.ipv4.ping_group_range on the host
            // vipdeck runs on; until it is built, say so rather than fail
            // quietly at run time.
            return Err(bad(
                "icmp probes are not available in this vipdeck; use \"tcp:PORT\" or \"http://VIP:PORT/PATH\"",
            ));
        }
        if let Some(port) = text.strip_prefix("tcp:") {
            return Ok(ProbeTarget::Tcp {
                port: parse_port(port).ok_or_else(|| bad("the port must be 1-65535"))?,
            });
        }
        let Some(rest) = text.strip_prefix("http://") else {
            return Err(bad(
                "expected \"tcp:PORT\" or \"http://HOST:PORT/PATH\" (HOST may be VIP)",
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                parse_port(p).ok_or_else(|| bad("the port must be 1-65535"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(bad(
                "the URL names no host (write VIP for the cluster's VIP)",
            ));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        {
            return Err(bad("the host has characters a host name cannot have"));
        }
        if !sanitize::is_safe(path) || path.chars().any(char::is_whitespace) {
            return Err(bad("the path has spaces or control characters"));
        }
        let host = if host == "VIP" {
            ProbeHost::Vip
        } else {
            ProbeHost::Literal(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            )
        };
        Ok(ProbeTarget::Http {
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The host and port to connect to, `VIP` replaced by `vip`.
    pub fn address(&self, vip: &str) -> (String, u16) {
        match self {
            ProbeTarget::Tcp { port } => (vip.to_string(), *port),
            ProbeTarget::Http { host, port, .. } => match host {
                ProbeHost::Vip => (vip.to_string(), *port),
                ProbeHost::Literal(h) => (h.clone(), *port),
            },
        }
    }
}

impl fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeTarget::Tcp { port } => write!(f, "tcp:{port}"),
            ProbeTarget::Http { host, port, path } => {
                let h = match host {
                    ProbeHost::Vip => "VIP",
                    ProbeHost::Literal(h) => h,
                };
                write!(f, "http://{h}:{port}{path}")
            }
        }
    }
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

/// How an HTTP answer names the node that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeFrom {
    /// The value of this response header (`X-Node`).
    Header(String),
    /// The body's first word.
    BodyFirstWord,
}

/// A cluster's probe, validated: target, rate and how to read the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub target: ProbeTarget,
    pub interval: Duration,
    pub timeout: Duration,
    /// `None`: the answer is not read for a node name.
    pub node_from: Option<NodeFrom>,
}

/// Why the VIP gave no (good) answer. Kept apart from [`ProbeFault`]: these
/// are the service's or the network's doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoAnswer {
    /// Nobody answered within the probe's timeout.
    Timeout(Duration),
    /// Connection refused (nothing listens on the VIP's port there).
    Refused,
    /// The connection was reset.
    Reset,
    /// Host or network unreachable (no route to the VIP).
    Unreachable,
    /// The service answered with a status that is not 2xx/3xx.
    HttpStatus(u16),
    /// The service answered something that is not HTTP.
    Garbage,
    /// Any other socket error, named.
    Other(String),
}

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoAnswer::Timeout(d) => write!(f, "timeout {}ms", d.as_millis()),
            NoAnswer::Refused => f.write_str("refused"),
            NoAnswer::Reset => f.write_str("reset"),
            NoAnswer::Unreachable => f.write_str("unreachable"),
            NoAnswer::HttpStatus(s) => write!(f, "HTTP {s}"),
            NoAnswer::Garbage => f.write_str("not an HTTP answer"),
            NoAnswer::Other(e) => f.write_str(&sanitize::clip(&sanitize::clean(e), 80)),
        }
    }
}

/// The probe could not run at all: its own problem, never the peers'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeFault {
    /// The host name did not resolve.
    Dns(String),
    /// The local host refused to let the probe out (permission, a blocked
    /// port at the source).
    NotPermitted(String),
}

impl fmt::Display for ProbeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, detail) = match self {
            ProbeFault::Dns(d) => ("cannot resolve", d),
            ProbeFault::NotPermitted(d) => ("not permitted here", d),
        };
        write!(
            f,
            "{what}: {}",
            sanitize::clip(&sanitize::clean(detail), 80)
        )
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeOutcome {
    /// The VIP answered; `node` when the answer named one (sanitised).
    Answered {
        rtt: Duration,
        node: Option<String>,
    },
    NoAnswer(NoAnswer),
    Fault(ProbeFault),
}

impl ProbeOutcome {
    pub fn answered(&self) -> bool {
        matches!(self, ProbeOutcome::Answered { .. })
    }
}

/// One probe, stamped with when it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub at: DateTime<Utc>,
    pub outcome: ProbeOutcome,
}

/// A cluster's data-plane witness: the newest result, since when the VIP
/// has been in its current state (answering or not), the recent history
/// and the rounds skipped because a probe was still running.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dataplane {
    pub history: VecDeque<ProbeResult>,
    /// When the current run of answers (or of failures) began.
    pub since: Option<DateTime<Utc>>,
    /// Rounds not started because the previous probe outlived its interval.
    pub skipped_rounds: u64,
}

impl Dataplane {
    /// Folds in one result: keeps the history short and moves `since` when
    /// the VIP goes from answering to not (or back). A probe fault does not
    /// move `since`: it says nothing about the VIP.
    pub fn record(&mut self, result: ProbeResult) {
        let was = self
            .history
            .iter()
            .rev()
            .find(|r| !matches!(r.outcome, ProbeOutcome::Fault(_)))
            .map(|r| r.outcome.answered());
        if !matches!(result.outcome, ProbeOutcome::Fault(_))
            && was != Some(result.outcome.answered())
        {
            self.since = Some(result.at);
        }
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(result);
    }

    pub fn latest(&self) -> Option<&ProbeResult> {
        self.history.back()
    }
}

/// The parts of an HTTP answer a probe needs: status and, when asked, the
/// node it names. `raw` is at most [`MAX_ANSWER_BYTES`] of the answer.
pub fn read_http_answer(
    raw: &[u8],
    node_from: Option<&NodeFrom>,
) -> Result<(u16, Option<String>), NoAnswer> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX_ANSWER_BYTES)]);
    let (head, body) = match text.split_once("\r\n\r\n") {
        Some((h, b)) => (h, b),
        None => (text.as_ref(), ""),
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(NoAnswer::Garbage);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(NoAnswer::Garbage);
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..600).contains(s))
        .ok_or(NoAnswer::Garbage)?;
    let node = match node_from {
        None => None,
        Some(NodeFrom::Header(name)) => lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string()),
        Some(NodeFrom::BodyFirstWord) => body.split_whitespace().next().map(str::to_string),
    };
    let node = node
        .map(|n| sanitize::clip(&sanitize::clean(&n), MAX_NODE_CHARS))
        .filter(|n| !n.is_empty());
    Ok((status, node))
}

/// A round trip as read at a glance: loopback and same-zone answers take
/// well under a millisecond, which "0s" would hide.
fn rtt_text(rtt: Duration) -> String {
    if rtt < Duration::from_millis(10) {
        format!("{:.1}ms", rtt.as_secs_f64() * 1000.0)
    } else {
        crate::core::humanize::duration(rtt)
    }
}

/// The witness in one line for the dashboard and `status`:
/// `VIP ✔ answers 3ms from pay-a · since 10:02:01 UTC`,
/// `VIP ✖ no answer (timeout 800ms) since 10:02:01 UTC (12s)`; while the
/// VIP `moving` to a new MASTER a silence is marked ▲, not ✖ (see
/// `dataplane_verdict::moving`).
pub fn summary_line(dp: &Dataplane, now: DateTime<Utc>, moving: bool) -> Option<String> {
    let latest = dp.latest()?;
    let since = dp.since.map(|s| {
        (
            s.format("%H:%M:%S UTC").to_string(),
            crate::core::humanize::duration((now - s).to_std().unwrap_or_default()),
        )
    });
    let stale = {
        let age = (now - latest.at).to_std().unwrap_or_default();
        // Older than a few default rounds: say how old, never pass it as now.
        if age > Duration::from_secs(5) {
            format!(" [last probe {} ago]", crate::core::humanize::duration(age))
        } else {
            String::new()
        }
    };
    Some(match &latest.outcome {
        ProbeOutcome::Answered { rtt, node } => {
            let from = node
                .as_deref()
                .map(|n| {
                    format!(
                        " from {}",
                        sanitize::clip(&sanitize::clean(n), MAX_NODE_CHARS)
                    )
                })
                .unwrap_or_default();
            let since = since
                .map(|(at, _)| format!(" · since {at}"))
                .unwrap_or_default();
            format!("VIP ✔ answers {}{from}{since}{stale}", rtt_text(*rtt))
        }
        ProbeOutcome::NoAnswer(why) => {
            let since = since
                .map(|(at, age)| format!(" since {at} ({age})"))
                .unwrap_or_default();
            if moving {
                format!("VIP ▲ no answer ({why}){since}{stale} · moving to the new MASTER")
            } else {
                format!("VIP ✖ no answer ({why}){since}{stale}")
            }
        }
        ProbeOutcome::Fault(f) => format!("VIP ? probe cannot run: {f}{stale}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print() {
        assert_eq!(
            ProbeTarget::parse("tcp:443").expect("parses"),
            ProbeTarget::Tcp { port: 443 }
        );
        let http = ProbeTarget::parse("http://VIP:8080/health").expect("parses");
        assert_eq!(
            http,
            ProbeTarget::Http {
                host: ProbeHost::Vip,
                port: 8080,
                path: "/health".into()
            }
        );
        assert_eq!(http.address("10.0.0.9"), ("10.0.0.9".to_string(), 8080));
        assert_eq!(http.to_string(), "http://VIP:8080/health");
        let lit = ProbeTarget::parse("http://127.0.0.1").expect("parses");
        assert_eq!(lit.address("10.0.0.9"), ("127.0.0.1".to_string(), 80));
    }

    #[test]
    fn bad_targets_say_why() {
        for (text, why) in [
            ("tcp:0", "port"),
            ("tcp:x", "port"),
            ("udp:53", "expected"),
            ("http://:80/", "no host"),
            ("http://VIP:80/a b", "path"),
            ("http://a\u{1b}b/", "characters"),
            ("icmp", "icmp"),
        ] {
            let e = ProbeTarget::parse(text).expect_err("refused").0;
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn http_answers_name_their_node_sanitised() {
        let raw = b"HTTP/1.1 200 OK\r\nX-Node: pay-a\r\n\r\npay-b here\n";
        let header = NodeFrom::Header("x-node".into());
        assert_eq!(
            read_http_answer(raw, Some(&header)),
            Ok((200, Some("pay-a".into())))
        );
        assert_eq!(
            read_http_answer(raw, Some(&NodeFrom::BodyFirstWord)),
            Ok((200, Some("pay-b".into())))
        );
        assert_eq!(read_http_answer(raw, None), Ok((200, None)));
        let evil = b"HTTP/1.1 200 OK\r\n\r\n\x1b[2Jowned\n";
        let (_, node) = read_http_answer(evil, Some(&NodeFrom::BodyFirstWord)).expect("parses");
        assert!(node.as_deref().is_some_and(sanitize::is_safe), "{node:?}");
        assert_eq!(
            read_http_answer(b"SSH-2.0-OpenSSH\r\n", None),
            Err(NoAnswer::Garbage)
        );
        assert_eq!(read_http_answer(b"", None), Err(NoAnswer::Garbage));
        assert_eq!(
            read_http_answer(b"HTTP/1.0 503 x\r\n\r\n", None),
            Ok((503, None))
        );
    }

    #[test]
    fn since_moves_only_when_the_vip_changes_state() {
        let t = |s| DateTime::<Utc>::UNIX_EPOCH + Duration::from_secs(s);
        let ok = ProbeOutcome::Answered {
            rtt: Duration::from_millis(3),
            node: None,
        };
        let mut d = Dataplane::default();
        d.record(ProbeResult {
            at: t(1),
            outcome: ok.clone(),
        });
        d.record(ProbeResult {
            at: t(2),
            outcome: ok.clone(),
        });
        assert_eq!(d.since, Some(t(1)));
        d.record(ProbeResult {
            at: t(3),
            outcome: ProbeOutcome::Fault(ProbeFault::Dns("x".into())),
        });
        assert_eq!(d.since, Some(t(1)), "a probe fault says nothing of the VIP");
        d.record(ProbeResult {
            at: t(4),
            outcome: ProbeOutcome::NoAnswer(NoAnswer::Refused),
        });
        assert_eq!(d.since, Some(t(4)));
        for s in 5..200 {
            d.record(ProbeResult {
                at: t(s),
                outcome: ok.clone(),
            });
        }
        assert_eq!(d.history.len(), HISTORY_LEN);
        assert_eq!(d.since, Some(t(5)));
    }
}
