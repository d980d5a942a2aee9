//! Reading the answer of a host poll: one `@@tag INDEX …` line per fact,
//! indexed like the host's [`Items`].

use std::collections::BTreeMap;

use crate::core::keepalived::dump::InstanceWord;
use crate::core::keepalived::parse_state;
use crate::core::keepalived::version::{DumpMethod, KeepalivedInfo};
use crate::core::lockfile::{LockInfo, LockSeen};
use crate::core::model::{VrrpState, Witness};
use crate::sources::probe::{b64, peer_clock_ms};

use super::dump::{parse_detection, parse_dump, parse_refusal, said_by, DUMP_CAP};
use super::Items;

/// Splits the output of `head -v -c CAP -- F1 F2 …` into each file's
/// bytes, given each file's name and size as `stat` saw them (in order).
/// A header not where the sizes put it (the file changed in between, or
/// its content imitates a header) ends the split: the rest is not trusted.
pub(crate) fn split_heads(
    blob: &[u8],
    files: &[(String, u64)],
    cap: u64,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    // A file's bytes count only once the next header (or the end) is
    // found right after them.
    let mut confirmed = true;
    for (k, (name, size)) in files.iter().enumerate() {
        let header = format!("{}==> {name} <==\n", if k == 0 { "" } else { "\n" });
        if !blob[pos.min(blob.len())..].starts_with(header.as_bytes()) {
            confirmed = false;
            break;
        }
        pos += header.len();
        let len = (*size).min(cap) as usize;
        if pos + len > blob.len() {
            break;
        }
        out.push((name.clone(), blob[pos..pos + len].to_vec()));
        pos += len;
    }
    if !confirmed || (out.len() == files.len() && pos != blob.len()) {
        out.pop();
    }
    out
}

/// One state file as read: its mtime and parsed word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateRead {
    pub(crate) state: VrrpState,
    pub(crate) raw: Option<String>,
    pub(crate) mtime: Option<i64>,
}

/// `MTIME B64`, `missing` or `special`.
pub(crate) fn parse_state_rest(rest: &str) -> Option<StateRead> {
    match rest.trim() {
        "missing" => Some(StateRead {
            state: VrrpState::Unknown,
            raw: Some("(no state file)".into()),
            mtime: None,
        }),
        "special" => Some(StateRead {
            state: VrrpState::Unknown,
            raw: Some("(not a regular file: not read)".into()),
            mtime: None,
        }),
        r => {
            let (mtime, data) = r.split_once(' ').unwrap_or((r, ""));
            let mtime: i64 = mtime.parse().ok()?;
            let bytes = b64(data)?;
            let (state, raw) = parse_state(&bytes);
            Some(StateRead {
                state,
                raw,
                mtime: Some(mtime),
            })
        }
    }
}

/// A parsed host poll.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub(crate) now_ms: Option<i64>,
    pub(crate) pids: BTreeMap<usize, bool>,
    pub(crate) states: BTreeMap<usize, StateRead>,
    /// Conf index → (mtime, content when it changed).
    pub(crate) confs: BTreeMap<usize, (String, Option<String>)>,
    pub(crate) ips: BTreeMap<usize, String>,
    pub(crate) dumps: BTreeMap<usize, (Witness, Result<Vec<InstanceWord>, String>)>,
    /// Dumps not asked: no keepalived runs to ask.
    pub(crate) no_dump: Vec<usize>,
    pub(crate) locks: BTreeMap<usize, LockSeen>,
    /// Maintenance marker index → what the poll read of it.
    pub(crate) marks: BTreeMap<usize, crate::core::marker::MarkerSeen>,
    /// Pid file index → the pid asked and what its keepalived offers
    /// (detected this poll).
    pub(crate) keepalived: BTreeMap<usize, (String, KeepalivedInfo)>,
    /// Pid file index → the running pid.
    pub(crate) pid_of: BTreeMap<usize, String>,
    /// Pid file index → why its process was not asked anything (it is not
    /// keepalived run by root).
    pub(crate) refused: BTreeMap<usize, String>,
}

pub(super) fn idx_rest(rest: &str) -> Option<(usize, &str)> {
    let (i, r) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((i.parse().ok()?, r))
}

/// One line of `stat -c '%Y %s %n'`: name, mtime, size.
type Stat = (String, i64, u64);

pub(crate) fn parse_answer(output: &str, items: &Items) -> Answer {
    let mut a = Answer::default();
    let mut in_ip: Option<usize> = None;
    // A `stat` block (of confs or not), in order.
    let mut in_stat: Option<(bool, Vec<Stat>)> = None;
    let mut last_stat: Vec<Stat> = Vec::new();
    let index = |list: &[String], name: &str| list.iter().position(|f| f == name);
    // A dump batch: the dumps that came, the stat of those root owns,
    // and their bytes by path.
    let mut cands: Vec<(usize, &str)> = Vec::new();
    let mut dstat = false;
    let mut dstat_names: Vec<String> = Vec::new();
    let mut dheads: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for line in output.lines() {
        if let Some(i) = in_ip {
            if line == "@@endip" {
                in_ip = None;
            } else {
                let e = a.ips.entry(i).or_default();
                e.push_str(line);
                e.push('\n');
            }
            continue;
        }
        if let Some((confs, block)) = in_stat.as_mut() {
            if line == "@@end" {
                if *confs {
                    for (name, m, _) in block.iter() {
                        if let Some(i) = index(&items.confs, name) {
                            a.confs.entry(i).or_insert((m.to_string(), None));
                        }
                    }
                }
                last_stat = std::mem::take(block);
                in_stat = None;
                if dstat {
                    dstat_names = last_stat.iter().map(|(n, _, _)| n.clone()).collect();
                }
            } else {
                let mut w = line.splitn(3, ' ');
                if let (Some(m), Some(z), Some(n)) = (w.next(), w.next(), w.next()) {
                    if let (Ok(m), Ok(z)) = (m.parse(), z.parse()) {
                        block.push((n.to_string(), m, z));
                    }
                }
            }
            continue;
        }
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "@@lock" => {
                if let Some((i, rest)) = idx_rest(rest) {
                    let seen = match rest.split_once(' ') {
                        Some(("held", content)) => LockInfo::parse(content).seen(),
                        _ if rest == "free" => LockSeen::Free,
                        // A FIFO, device, directory or link: not read.
                        _ if rest == "special" => {
                            LockInfo::parse("(not a regular file: not read)").seen()
                        }
                        _ => LockInfo::parse("").seen(),
                    };
                    a.locks.insert(i, seen);
                }
            }
            "@@mark" => {
                if let Some((i, rest)) = idx_rest(rest) {
                    a.marks.insert(i, crate::core::marker::parse_poll(rest));
                }
            }
            "@@sstat" | "@@cstat" => {
                in_stat = Some((tag == "@@cstat", Vec::new()));
                continue;
            }
            "@@dstat" => {
                in_stat = Some((false, Vec::new()));
                dstat = true;
                continue;
            }
            "@@dhead" => {
                let files: Vec<(String, u64)> =
                    last_stat.iter().map(|(n, _, z)| (n.clone(), *z)).collect();
                let blob = b64(rest).unwrap_or_default();
                dheads = split_heads(&blob, &files, DUMP_CAP).into_iter().collect();
                continue;
            }
            "@@shead" | "@@chead" => {
                let states = tag == "@@shead";
                let cap = if states { 256 } else { 262_144 };
                let files: Vec<(String, u64)> =
                    last_stat.iter().map(|(n, _, z)| (n.clone(), *z)).collect();
                let blob = b64(rest).unwrap_or_default();
                for (name, bytes) in split_heads(&blob, &files, cap) {
                    let mtime = last_stat.iter().find(|(n, _, _)| *n == name).map(|x| x.1);
                    if states {
                        if let Some(i) = index(&items.states, &name) {
                            let (state, raw) = parse_state(&bytes);
                            a.states.insert(i, StateRead { state, raw, mtime });
                        }
                    } else if let Some(i) = index(&items.confs, &name) {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let m = mtime.map(|m| m.to_string()).unwrap_or_default();
                        a.confs.insert(i, (m, Some(text)));
                    }
                }
                continue;
            }
            _ => {}
        }
        if tag == "@@end" {
            continue;
        }
        let Some((i, rest)) = (if tag == "@@now" {
            Some((0, rest))
        } else {
            idx_rest(rest)
        }) else {
            continue;
        };
        match tag {
            "@@now" => a.now_ms = peer_clock_ms(rest),
            "@@pid" => {
                let running = rest != "none" && !rest.is_empty();
                a.pids.insert(i, running);
                if running {
                    a.pid_of.insert(i, rest.to_string());
                }
            }
            "@@state" => {
                if let Some(s) = parse_state_rest(rest) {
                    a.states.insert(i, s);
                }
            }
            "@@conf" => {
                let (mtime, data) = rest.split_once(' ').unwrap_or((rest, ""));
                let text = (mtime != "missing")
                    .then(|| String::from_utf8_lossy(&b64(data).unwrap_or_default()).into_owned());
                a.confs.insert(i, (mtime.to_string(), text));
            }
            "@@confsame" => {
                a.confs.insert(i, (rest.to_string(), None));
            }
            "@@ip" => {
                in_ip = Some(i);
                a.ips.entry(i).or_default();
            }
            "@@dump" if rest == "none" => a.no_dump.push(i),
            "@@dump" => {
                if let Some(d) = parse_dump(rest) {
                    a.dumps.insert(i, d);
                }
            }
            "@@ka" => {
                a.keepalived.insert(i, parse_detection(rest));
            }
            // The same binary as a keepalived asked above: its answer.
            "@@kasame" => {
                let (pid, same) = rest.split_once(' ').unwrap_or((rest, ""));
                let info = a
                    .keepalived
                    .values()
                    .find(|(p, _)| p == same)
                    .map(|(_, k)| k.clone());
                if let Some(info) = info {
                    a.keepalived.insert(i, (pid.to_string(), info));
                }
            }
            "@@dcand" => {
                let kind = if rest == "data" { "data" } else { "json" };
                cands.push((i, kind));
            }
            // Not keepalived run by root: nothing is asked of it, and the
            // verdict says why.
            "@@notka" => {
                let (pid, info) = parse_refusal(rest);
                if let DumpMethod::None { reason } = &info.dump {
                    a.refused.insert(i, reason.clone());
                }
                a.keepalived.insert(i, (pid, info));
            }
            _ => {}
        }
    }
    for (j, kind) in cands {
        let Some((_, json, data)) = items.dumps.get(j) else {
            continue;
        };
        let path = if kind == "data" { data } else { json };
        let said = match dheads.get(path) {
            Some(bytes) => said_by(kind, bytes),
            // Not root's (`find -user 0` left it out): not read.
            None if dstat && !dstat_names.contains(path) => {
                parse_dump(&format!("{kind} refused owner"))
            }
            // Not read this round (changed in between, or the answer was
            // cut): asked again.
            None => None,
        };
        if let Some(d) = said {
            a.dumps.insert(j, d);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::host::tests::peer;
    use crate::sources::probe::vip_in_ip_addr;

    #[test]
    fn a_busybox_date_without_nanoseconds_still_gives_the_clock() {
        assert_eq!(
            peer_clock_ms("1796540993123456789"),
            Some(1_796_540_993_123)
        );
        assert_eq!(peer_clock_ms("1796540993%N"), Some(1_796_540_993_500));
        assert_eq!(peer_clock_ms("1796540993N\n"), Some(1_796_540_993_500));
        for bad in ["", "%N", "12a4", "-5", &"9".repeat(40)] {
            assert_eq!(peer_clock_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_parse_by_index() {
        let out = "@@now 1795299990123456789\n@@pid 0 4242\n@@pid 1 none\n@@state 1 1795299990 TUFTVEVS\n@@state 0 missing\n@@ip 0\n2: eth0 inet 192.0.2.100/24 scope global eth0\n@@endip\n@@confsame 0 1795000000\n";
        let it = Items::of(&[peer(0, "/s0", "eth0"), peer(1, "/s1", "eth0")]);
        let a = parse_answer(out, &it);
        assert_eq!(a.now_ms, Some(1_795_299_990_123));
        assert_eq!(a.pids.get(&0), Some(&true));
        assert_eq!(a.pids.get(&1), Some(&false));
        assert_eq!(a.states[&1].state, VrrpState::Master);
        assert_eq!(a.states[&1].mtime, Some(1_795_299_990));
        assert_eq!(a.states[&0].state, VrrpState::Unknown);
        assert!(vip_in_ip_addr(&a.ips[&0], "192.0.2.100"));
        assert_eq!(a.confs[&0], ("1795000000".to_string(), None));
    }

    #[test]
    fn bulk_reads_split_by_the_sizes_stat_saw() {
        let files = vec![("/a".to_string(), 6), ("/b".to_string(), 6)];
        let blob = b"==> /a <==\nMASTER\n==> /b <==\nBACKUP";
        let got = split_heads(blob, &files, 256);
        assert_eq!(got[0], ("/a".to_string(), b"MASTER".to_vec()));
        assert_eq!(got[1], ("/b".to_string(), b"BACKUP".to_vec()));
        // /a grew (or imitates /b's header) after stat: /b is not trusted.
        let blob = b"==> /a <==\nMASTER\n==> /b <==\nX\n==> /b <==\nBACKUP";
        let got = split_heads(blob, &files, 256);
        assert_eq!(got.len(), 1, "{got:?}");
        // Capped reads.
        let files = vec![("/a".to_string(), 1000)];
        let blob = [b"==> /a <==\n".as_slice(), &[b'x'; 256]].concat();
        assert_eq!(split_heads(&blob, &files, 256)[0].1.len(), 256);
    }
}
