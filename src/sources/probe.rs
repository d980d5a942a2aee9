//! One poll of a peer in one round trip: a shell script that gathers every
//! fact, and a pure parser of its output into a [`PeerObservation`].
//!
//! File contents travel base64-encoded so nothing a peer writes (a state
//! file full of garbage, a conf with odd bytes) can be mistaken for the
//! script's own section markers.

use chrono::{DateTime, TimeZone, Utc};

use crate::core::keepalived::{conf, dump, instance_for_vip, parse_state};
use crate::core::model::{PeerObservation, VrrpState};
use crate::sources::transport::quote;

/// What to read on a peer, from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePaths {
    pub state_file: String,
    pub keepalived_conf: String,
    pub interface: String,
    pub(crate) pid_file: String,
    pub(crate) json_dump: String,
    pub(crate) data_dump: String,
}

impl ProbePaths {
    pub fn new(state_file: &str, keepalived_conf: &str, interface: &str) -> Self {
        ProbePaths {
            state_file: state_file.into(),
            keepalived_conf: keepalived_conf.into(),
            interface: interface.into(),
            pid_file: "/run/keepalived.pid".into(),
            json_dump: "/tmp/keepalived.json".into(),
            data_dump: "/tmp/keepalived.data".into(),
        }
    }
}

/// What this poll should fetch beyond the cheap facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeWants {
    /// Send keepalived the JSON signal and read its dump (each signal
    /// writes a log line on the peer: do it sparingly).
    pub(crate) dump: bool,
    /// The conf's mtime we already have; the content is sent only when it
    /// differs.
    pub(crate) known_conf_mtime: Option<String>,
}

/// The script for one poll. Every path is quoted.
pub fn script(p: &ProbePaths, wants: &ProbeWants) -> String {
    let mut s = format!(
        "S={} C={} I={} P={} J={}\n",
        quote(&p.state_file),
        quote(&p.keepalived_conf),
        quote(&p.interface),
        quote(&p.pid_file),
        quote(&p.json_dump)
    );
    // The peer's clock, for its offset against ours.
    s.push_str("echo \"@@now $(date +%s%N)\"\n");
    // Few forks: each costs the peer a process; shell builtins are free.
    s.push_str(concat!(
        "set -- $(stat -c %Y -- \"$S\" \"$C\" 2>/dev/null)\n",
        // A FIFO or device at a path is never read (a `head` would hang).
        "if [ -f \"$S\" ]; then printf '@@state %s %s\\n' \"$1\" \"$(head -c 256 -- \"$S\" | base64 -w0)\"; shift; ",
        "elif [ -e \"$S\" ]; then echo '@@state special'; shift; else echo '@@state missing'; fi\n",
        "m=${1:-missing}\n",
        "pid=; [ -r \"$P\" ] && read -r pid < \"$P\"; case $pid in *[!0-9]*) pid=;; esac\n",
        "if [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null; then echo \"@@pid $pid\"; ",
        "else echo '@@pid none'; pid=; fi\n",
        "echo '@@ip'; ip -o addr show dev \"$I\" 2>&1; echo '@@endip'\n",
    ));
    let known = wants.known_conf_mtime.as_deref().unwrap_or("");
    s.push_str(&format!(
        "if [ \"$m\" != {} ]; then printf '@@conf %s %s\\n' \"$m\" \"$([ -f \"$C\" ] && head -c 262144 -- \"$C\" 2>/dev/null | base64 -w0)\"; else echo \"@@confsame $m\"; fi\n",
        quote(known)
    ));
    if wants.dump {
        s.push_str(TRUST_FN);
        s.push_str(DUMP_FN);
        s.push_str(concat!(
            "if [ -n \"$pid\" ] && ka \"$pid\"; then ",
            "if sig=$(keepalived --signum=JSON 2>/dev/null); then kd '@@json' \"$J\" \"$sig\" \"$pid\"; ",
            "else echo '@@json none'; fi; ",
            "elif [ -n \"$pid\" ]; then printf '@@notka %s %s %s\\n' \"$pid\" \"${u:--}\" \"$(printf %s \"$c\" | base64 -w0)\"; ",
            "else echo '@@json none'; fi\n",
        ));
    }
    s
}

/// The shell function `ka PID`: true when PID is keepalived run by root,
/// the only process vipdeck signals for a dump. A pid file can name
/// anything (keepalived died and its pid went to another program, or the
/// file was planted): the process must run as uid 0 (real and effective,
/// from `/proc/PID/status`) and be keepalived by its name (`comm`), else
/// by its binary (`/proc/PID/exe`, read only when the name differs). On
/// refusal `c` holds its name and `u` its `REAL:EFFECTIVE` uids.
///
/// `U<PID>` may hold those uids already, read for many processes at once
/// by [`UIDS_FN`]'s `ku` (the builtin `read` takes `/proc/PID/status` a
/// byte at a time).
pub(crate) const TRUST_FN: &str = concat!(
    "ka() { c=; u=; case $1 in ''|*[!0-9]*) return 1;; esac; eval \"u=\\${U$1-}\"; { read -r c < \"/proc/$1/comm\"; } 2>/dev/null; ",
    "[ -n \"$u\" ] || { while read -r x r e _; do if [ \"$x\" = Uid: ]; then u=$r:$e; break; fi; done < \"/proc/$1/status\"; } 2>/dev/null; ",
    "[ \"$u\" = 0:0 ] || return 1; [ \"$c\" = keepalived ] && return 0; ",
    "x=$(readlink \"/proc/$1/exe\" 2>/dev/null); x=${x% (deleted)}; [ \"${x##*/}\" = keepalived ]; }\n",
);

/// The shell function `ku PID...`: sets `U<PID>` to the real and
/// effective uids of each (one `grep` over their `/proc/PID/status`), for
/// `ka` to use; `kuo` unsets them again (a pid may be reused by the next
/// poll). Only digits reach `eval`.
pub(crate) const UIDS_FN: &str = concat!(
    "ku() { K=\"$*\"; [ $# -gt 0 ] || return 0; set -f; KL=; for p in \"$@\"; do KL=\"$KL /proc/$p/status\"; done; ",
    "KL=$(grep -H '^Uid:' $KL 2>/dev/null); KO=$IFS; IFS='\n'; for l in $KL; do IFS=$KO; p=${l#/proc/}; p=${p%%/*}; set -- ${l#*Uid:}; ",
    "case \"$p:$1:$2\" in *[!0-9:]*|:*|*::*|*:) ;; *) eval \"U$p=\\$1:\\$2\";; esac; IFS='\n'; done; IFS=$KO; set +f; }\n",
    "kuo() { for p in $K; do unset \"U$p\"; done; K=; }\n",
);

/// The shell function `kd TAG FILE SIGNAL PID`: asks keepalived (PID,
/// already trusted by `ka`) for a dump and prints `TAG B64(dump)`, `TAG `
/// when none came within 1 s, or `TAG refused WHY`. The dump is read only
/// when root owns it (`find -user 0`: another user may create the file in
/// a 1777 `/tmp`) and it is not older than a marker made just before the
/// signal (`[ -nt ]`: a file that was there before is not this dump).
/// `find`, `mktemp` and `[ -nt ]` are in busybox and in CentOS 7 alike.
pub(crate) const DUMP_FN: &str = concat!(
    "kd() { M=$(mktemp 2>/dev/null) || { echo \"$1 refused nomarker\"; return; }; ",
    "case $2 in /*) f=$2;; *) f=./$2;; esac; ",
    "rm -f -- \"$f\"; kill -s \"$3\" \"$4\" 2>/dev/null; i=0; ",
    "while [ ! -s \"$f\" ] && [ $i -lt 40 ]; do sleep 0.025; i=$((i+1)); done; sleep 0.02; ",
    "if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then echo \"$1 \"; ",
    "elif [ -z \"$(find \"$f\" -type f -user 0 2>/dev/null)\" ]; then echo \"$1 refused owner\"; ",
    "elif [ \"$M\" -nt \"$f\" ]; then echo \"$1 refused stale\"; ",
    "else printf '%s %s\\n' \"$1\" \"$(head -c 1048576 -- \"$f\" 2>/dev/null | base64 -w0)\"; fi; ",
    "rm -f -- \"$M\"; }\n",
);

/// Why a dump was not read, from `kd`'s `refused WHY` (`None` when the
/// answer is a dump, or none came). `name` is "JSON dump" or "data dump".
pub(crate) fn dump_refusal(rest: &str, name: &str) -> Option<String> {
    let why = rest.trim().strip_prefix("refused")?.trim();
    Some(match why {
        "owner" => format!(
            "keepalived's {name} is not a file owned by root: not read (another user may have \
             put it there)"
        ),
        "stale" => format!("keepalived's {name} is older than the signal: not read"),
        "nomarker" => format!(
            "no marker file for the {name}'s age could be made (mktemp failed): keepalived not \
             signalled"
        ),
        _ => format!("keepalived's {name} was refused: not read"),
    })
}

/// Why the process a pid file names was not signalled, from the refusal
/// line's rest (`PID UIDS B64(NAME)`, see [`TRUST_FN`]).
pub(crate) fn pid_refusal(rest: &str) -> String {
    let mut w = rest.split(' ');
    let pid: String = w
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .take(12)
        .collect();
    let uids: String = w
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ':')
        .take(24)
        .collect();
    let name = w
        .next()
        .and_then(b64)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .chars()
                .take(32)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty());
    let who = match uids.split_once(':') {
        Some((r, e)) if r == e => format!("uid {r}"),
        Some((r, e)) => format!("uid {r} (effective {e})"),
        None => "an unknown uid".to_string(),
    };
    let what = name.map_or_else(|| "a process".to_string(), |n| format!("{n:?}"));
    format!(
        "pid {pid} from the pid file is {what} run by {who}, not keepalived run by root: \
         not signalled for a dump (a stale pid file?)"
    )
}

/// The result of parsing one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    pub(crate) observation: PeerObservation,
    /// The conf mtime seen, to pass back as `known_conf_mtime`.
    pub(crate) conf_mtime: Option<String>,
    /// The state file's mtime (Unix seconds), to notice changes.
    pub(crate) state_mtime: Option<i64>,
    /// Problems worth showing (unreadable dump, conf parse errors).
    pub(crate) notes: Vec<String>,
    /// The peer's clock when the script ran, in Unix milliseconds.
    pub(crate) peer_now_ms: Option<i64>,
}

/// The peer's clock from `date +%s%N`, in ms: nanoseconds from GNU date;
/// a `date` without `%N` (busybox) prints the seconds and a literal `%N`
/// (or `N`), which still gives the offset to the second: read as the
/// middle of that second, so the truncation does not bias it.
pub(crate) fn peer_clock_ms(out: &str) -> Option<i64> {
    let t = out.trim();
    let digits = t.trim_end_matches("%N").trim_end_matches('N');
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = digits.parse().ok()?;
    let ms = if digits.len() == t.len() {
        n / 1_000_000
    } else {
        n * 1000 + 500
    };
    i64::try_from(ms).ok()
}

pub(crate) fn b64(s: &str) -> Option<Vec<u8>> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        if c == b'=' {
            break;
        }
        let v = T.iter().position(|&t| t == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn epoch(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single()
}

/// Whether `ip -o addr` output shows `vip` on the interface.
pub(crate) fn vip_in_ip_addr(output: &str, vip: &str) -> bool {
    let Ok(want) = vip.parse::<std::net::IpAddr>() else {
        return false;
    };
    output.lines().any(|l| {
        let mut words = l.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" || w == "inet6" {
                if let Some(addr) = words.next() {
                    let ip = addr.split('/').next().unwrap_or("");
                    if ip.parse::<std::net::IpAddr>().ok() == Some(want) {
                        return true;
                    }
                }
            }
        }
        false
    })
}

/// Turns the script's output into facts. `vip` picks the vrrp_instance.
pub fn parse(output: &str, vip: &str, at: DateTime<Utc>) -> ProbeResult {
    let mut obs = PeerObservation {
        at,
        reachable: Some(true),
        ..Default::default()
    };
    let mut notes = Vec::new();
    let mut conf_mtime = None;
    let mut state_mtime = None;
    let mut peer_now_ms = None;
    let mut ip_lines = String::new();
    let mut in_ip = false;
    let mut instance_name: Option<String> = None;
    let mut saw_ip = false;
    for line in output.lines() {
        if in_ip {
            if line == "@@endip" {
                in_ip = false;
            } else {
                ip_lines.push_str(line);
                ip_lines.push('\n');
            }
            continue;
        }
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "@@state" if rest == "missing" => {
                obs.state_file = Some(VrrpState::Unknown);
                obs.state_file_raw = Some("(no state file)".into());
            }
            "@@state" if rest == "special" => {
                obs.state_file = Some(VrrpState::Unknown);
                obs.state_file_raw = Some("(not a regular file: not read)".into());
            }
            "@@state" => {
                let (mtime, data) = rest.split_once(' ').unwrap_or((rest, ""));
                state_mtime = mtime.parse().ok();
                let bytes = b64(data).unwrap_or_default();
                let (state, raw) = parse_state(&bytes);
                obs.state_file = Some(state);
                obs.state_file_raw = raw;
            }
            "@@pid" => obs.keepalived_running = Some(rest != "none" && !rest.is_empty()),
            "@@now" => peer_now_ms = peer_clock_ms(rest),
            "@@ip" => {
                in_ip = true;
                saw_ip = true;
            }
            "@@conf" => {
                let (mtime, data) = rest.split_once(' ').unwrap_or((rest, ""));
                conf_mtime = Some(mtime.to_string());
                if mtime == "missing" {
                    notes.push("keepalived.conf not found".into());
                    continue;
                }
                let text = String::from_utf8_lossy(&b64(data).unwrap_or_default()).into_owned();
                // Includes are not followed over the wire; the instance
                // that carries the VIP is almost always in the main file.
                let (parsed, errors) = conf::parse_lenient(&text, &|_| None);
                if let Some(e) = errors.first() {
                    notes.push(format!("keepalived.conf: {e}"));
                }
                match instance_for_vip(&parsed, vip) {
                    Some(inst) => {
                        obs.priority = inst.priority;
                        instance_name = Some(inst.name.clone());
                        obs.config = Some(inst.summary_in(&parsed));
                    }
                    None => notes.push(format!("keepalived.conf has no vrrp_instance with {vip}")),
                }
            }
            "@@confsame" => conf_mtime = Some(rest.to_string()),
            "@@json" if rest == "none" => {}
            "@@notka" => obs.keepalived_dump_error = Some(pid_refusal(rest)),
            "@@json" if rest.starts_with("refused") => {
                obs.keepalived_dump_error = dump_refusal(rest, "JSON dump");
            }
            "@@json" => match dump::parse_json_dump(&b64(rest).unwrap_or_default()) {
                Ok(instances) => {
                    let inst = instances
                        .iter()
                        .find(|i| Some(&i.iname) == instance_name.as_ref())
                        .or_else(|| {
                            instances
                                .iter()
                                .find(|i| i.vip_addresses().iter().any(|a| a == vip))
                        })
                        .or(instances.first());
                    if let Some(i) = inst {
                        obs.keepalived_state = Some(i.state);
                        if let Some(t) = i.last_transition {
                            obs.last_transition = Some(t);
                        }
                    }
                }
                Err(e) => notes.push(format!("keepalived JSON dump unreadable: {e}")),
            },
            _ => {}
        }
    }
    if saw_ip {
        obs.vip_on_nic = Some(vip_in_ip_addr(&ip_lines, vip));
    }
    if obs.last_transition.is_none() {
        // The notify script rewrites the state file at each transition.
        obs.last_transition = state_mtime.and_then(epoch);
    }
    ProbeResult {
        observation: obs,
        conf_mtime,
        state_mtime,
        notes,
        peer_now_ms,
    }
}

/// A remote loop that prints `MTIME WORD-IN-BASE64` each time the state
/// file changes (checked every 100 ms): transitions reach vipdeck without
/// waiting for the next poll.
pub(crate) fn state_follow_script(state_file: &str) -> String {
    format!(
        "S={}; prev=; while :; do cur=\"$(stat -c %Y -- \"$S\" 2>/dev/null) $([ -f \"$S\" ] && head -c 256 -- \"$S\" 2>/dev/null | base64 -w0)\"; \
         if [ \"$cur\" != \"$prev\" ]; then echo \"$cur\"; prev=$cur; fi; sleep 0.1; done",
        quote(state_file)
    )
}

/// Parses one line of [`state_follow_script`] output.
pub(crate) fn parse_state_follow(line: &str, at: DateTime<Utc>) -> Option<PeerObservation> {
    let (mtime, data) = line.split_once(' ')?;
    let bytes = b64(data)?;
    let (state, raw) = parse_state(&bytes);
    Some(PeerObservation {
        at,
        state_file: Some(state),
        state_file_raw: raw,
        last_transition: mtime.parse().ok().and_then(epoch),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in s.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 22, 44, 0)
            .single()
            .expect("time")
    }

    const CONF: &str = "vrrp_instance VI_1 {\n state BACKUP\n interface eth0\n virtual_router_id 51\n priority 100\n nopreempt\n unicast_src_ip 192.0.2.11\n unicast_peer {\n 192.0.2.12\n }\n virtual_ipaddress {\n 192.0.2.100/24\n }\n}\n";

    #[test]
    fn base64_round_trips() {
        for s in [&b""[..], b"M", b"MA", b"MASTER", b"\x00\xff\x10garbage"] {
            assert_eq!(b64(&enc(s)).expect("decodes"), s);
        }
        assert!(b64("not*base64").is_none());
    }

    #[test]
    fn a_full_poll_becomes_facts() {
        let out = format!(
            "@@state 1795299990 {}\n@@pid 4242\n@@ip\n2: eth0    inet 192.0.2.11/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n2: eth0    inet 192.0.2.100/24 scope global secondary eth0\n@@endip\n@@conf 1795000000 {}\n",
            enc(b"MASTER"),
            enc(CONF.as_bytes())
        );
        let r = parse(&out, "192.0.2.100", now());
        let o = &r.observation;
        assert_eq!(o.state_file, Some(VrrpState::Master));
        assert_eq!(o.keepalived_running, Some(true));
        assert_eq!(o.vip_on_nic, Some(true));
        assert_eq!(o.priority, Some(100));
        let conf = o.config.as_ref().expect("conf");
        assert_eq!(conf.virtual_router_id, Some(51));
        assert!(conf.nopreempt);
        assert_eq!(conf.unicast_peers, vec!["192.0.2.12".to_string()]);
        assert_eq!(r.conf_mtime.as_deref(), Some("1795000000"));
        assert_eq!(o.last_transition.map(|t| t.timestamp()), Some(1795299990));
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }

    /// Finding M7, in the per-peer poll: a pid file naming another process
    /// and a dump root did not write are refused, and the facts say why.
    #[test]
    fn refused_dumps_become_the_reason_keepalived_gave_none() {
        let s = script(
            &ProbePaths::new("/s", "/c", "eth0"),
            &ProbeWants {
                dump: true,
                known_conf_mtime: None,
            },
        );
        assert!(s.contains("if [ -n \"$pid\" ] && ka \"$pid\"; then"), "{s}");
        assert!(s.contains("kd '@@json' \"$J\" \"$sig\" \"$pid\""), "{s}");
        assert!(!s.contains("kill -s \"$sig\" \"$pid\""), "{s}");
        let r = parse(
            &format!("@@pid 4242\n@@notka 4242 0:0 {}\n", enc(b"nginx")),
            "192.0.2.100",
            now(),
        );
        let why = r.observation.keepalived_dump_error.expect("why");
        assert!(
            why.contains("\"nginx\" run by uid 0, not keepalived"),
            "{why}"
        );
        let r = parse("@@pid 4242\n@@json refused owner\n", "192.0.2.100", now());
        let why = r.observation.keepalived_dump_error.expect("why");
        assert!(why.contains("not a file owned by root"), "{why}");
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }

    #[test]
    fn garbage_and_absence_are_shown_as_such() {
        let out = format!("@@state 1 {}\n@@pid none\n@@ip\nDevice \"eth9\" does not exist.\n@@endip\n@@conf missing \n", enc(b"\x00\x01oops\n"));
        let r = parse(&out, "192.0.2.100", now());
        let o = &r.observation;
        assert_eq!(o.state_file, Some(VrrpState::Unknown));
        assert!(o
            .state_file_raw
            .as_deref()
            .is_some_and(|r| r.contains("oops")));
        assert_eq!(o.keepalived_running, Some(false));
        assert_eq!(o.vip_on_nic, Some(false));
        assert_eq!(r.notes, vec!["keepalived.conf not found".to_string()]);
        let r = parse("@@state missing\n", "192.0.2.100", now());
        assert_eq!(
            r.observation.state_file_raw.as_deref(),
            Some("(no state file)")
        );
        assert_eq!(r.observation.vip_on_nic, None, "no ip section, no claim");
    }

    #[test]
    fn the_peer_clock_is_read_in_milliseconds() {
        let r = parse(
            "@@now 1795299990123456789\n@@pid none\n",
            "192.0.2.100",
            now(),
        );
        assert_eq!(r.peer_now_ms, Some(1_795_299_990_123));
        // A `date` without %N (busybox): the second, read as its middle.
        let r = parse("@@now 1795299990N\n", "192.0.2.100", now());
        assert_eq!(r.peer_now_ms, Some(1_795_299_990_500));
        let r = parse("@@now N\n", "192.0.2.100", now());
        assert_eq!(r.peer_now_ms, None, "no reading, not a wrong one");
    }

    #[test]
    fn vip_match_is_exact() {
        let out = "2: eth0 inet 192.0.2.100/24 scope global eth0\n";
        assert!(vip_in_ip_addr(out, "192.0.2.100"));
        assert!(!vip_in_ip_addr(out, "192.0.2.10"));
        assert!(!vip_in_ip_addr(
            "2: eth0 inet 192.0.2.1000/24",
            "192.0.2.100"
        ));
    }

    #[test]
    fn the_script_quotes_every_path() {
        let p = ProbePaths::new(
            "/var/keepalived/state; rm -rf /",
            "/etc/keepalived/keepalived.conf",
            "eth0",
        );
        let s = script(&p, &ProbeWants::default());
        assert!(s.starts_with("S='/var/keepalived/state; rm -rf /' "), "{s}");
    }

    #[tokio::test]
    async fn the_script_runs_under_a_real_shell() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let conf_path = dir.path().join("keepalived.conf");
        std::fs::write(&state, "BACKUP").expect("write");
        std::fs::write(&conf_path, CONF).expect("write");
        let mut p = ProbePaths::new(
            &state.display().to_string(),
            &conf_path.display().to_string(),
            "lo",
        );
        p.pid_file = dir.path().join("none.pid").display().to_string();
        let mut sh =
            crate::sources::transport::Shell::spawn(&crate::sources::transport::Target::Local)
                .await
                .expect("sh");
        let (out, _) = sh
            .run(
                &script(&p, &ProbeWants::default()),
                std::time::Duration::from_secs(5),
            )
            .await
            .expect("runs");
        let r = parse(&out, "192.0.2.100", now());
        assert_eq!(r.observation.state_file, Some(VrrpState::Backup), "{out}");
        assert_eq!(r.observation.vip_on_nic, Some(false));
        assert_eq!(r.observation.priority, Some(100));
        // Unchanged conf is not sent again.
        let wants = ProbeWants {
            known_conf_mtime: r.conf_mtime.clone(),
            ..Default::default()
        };
        let (out, _) = sh
            .run(&script(&p, &wants), std::time::Duration::from_secs(5))
            .await
            .expect("runs");
        assert!(out.contains("@@confsame"), "{out}");
        sh.close().await;
    }

    #[test]
    fn follow_lines_parse() {
        let o =
            parse_state_follow(&format!("1795299990 {}", enc(b"FAULT")), now()).expect("parses");
        assert_eq!(o.state_file, Some(VrrpState::Fault));
        assert!(parse_state_follow("garbage", now()).is_none());
    }
}
