//! keepalived's own word: asking the running keepalived what it is
//! (`--version`, `--signum`), and reading the dump it writes when
//! signalled.

use crate::core::keepalived::dump::{self, InstanceWord};
use crate::core::keepalived::version::{self, KeepalivedInfo};
use crate::core::model::Witness;
use crate::sources::probe::b64;

/// Asks the running keepalived behind pid file `i` what it is: its
/// `--version` and whether `--signum=JSON`/`DATA` answer, run from the
/// running binary itself (`/proc/PID/exe`) where the shell may read it,
/// else the `keepalived` on the PATH. Prints `@@ka I PID B64(version)
/// B64(json) B64(data)` (`-` for nothing); nothing when it does not run.
pub(super) fn detect_script(i: usize) -> String {
    format!(
        "if [ -n \"$p{i}\" ]; then \
         k=/proc/$p{i}/exe; [ -x \"$k\" ] || k=keepalived; \
         v=$(\"$k\" --version 2>&1 </dev/null | head -c 512 | base64 -w0); \
         j=$(\"$k\" --signum=JSON 2>/dev/null </dev/null | head -c 16 | base64 -w0); \
         d=$(\"$k\" --signum=DATA 2>/dev/null </dev/null | head -c 16 | base64 -w0); \
         printf '@@ka {i} %s %s %s %s\\n' \"$p{i}\" \"${{v:--}}\" \"${{j:--}}\" \"${{d:--}}\"; fi\n"
    )
}

/// `@@ka` fields: base64 text, or `-` for nothing.
fn ka_field(f: Option<&str>) -> Option<String> {
    match f {
        None | Some("-") => None,
        Some(b) => b64(b).map(|v| String::from_utf8_lossy(&v).into_owned()),
    }
}

/// A detection line's rest (`PID B64V B64J B64D`): the pid it was asked
/// of, and what keepalived offers.
pub(crate) fn parse_detection(rest: &str) -> (String, KeepalivedInfo) {
    let mut w = rest.split(' ');
    let pid = w.next().unwrap_or_default().to_string();
    let version = ka_field(w.next()).unwrap_or_default();
    let json = ka_field(w.next());
    let data = ka_field(w.next());
    (
        pid,
        version::detect(&version, json.as_deref(), data.as_deref()),
    )
}

/// A dump answer's rest (`json|data B64`) as what it says of each instance.
pub(crate) fn parse_dump(rest: &str) -> Option<(Witness, Result<Vec<InstanceWord>, String>)> {
    let (kind, data) = rest.split_once(' ').unwrap_or((rest, ""));
    let bytes = b64(data).unwrap_or_default();
    let (witness, name) = match kind {
        "json" => (Witness::KeepalivedDump, "JSON dump"),
        "data" => (Witness::KeepalivedData, "data dump"),
        _ => return None,
    };
    if bytes.is_empty() {
        return Some((
            witness,
            Err(format!(
                "keepalived wrote no {name} within 1s of the signal (is its /tmp private?)"
            )),
        ));
    }
    let said = if witness == Witness::KeepalivedDump {
        dump::parse_json_dump(&bytes).map(|v| v.iter().map(InstanceWord::from).collect())
    } else {
        dump::parse_data_dump(&bytes).map(|v| v.iter().map(InstanceWord::from).collect())
    };
    Some((
        witness,
        said.map_err(|e| format!("keepalived's {name} could not be read: {e}")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keepalived::version::DumpMethod;
    use crate::core::model::VrrpState;
    use crate::sources::host::parse::parse_answer;
    use crate::sources::host::tests::{encode, peer};
    use crate::sources::host::Items;

    #[test]
    fn detection_and_dump_answers_name_what_they_got() {
        let enc = |t: &str| encode(t.as_bytes());
        let it = Items::of(&[peer(0, "/s0", "eth0")]);
        // 1.x: a version, and `--signum` answering nothing.
        let out = format!(
            "@@pid 0 4242\n@@ka 0 4242 {} - -\n",
            enc("Keepalived v1.3.5 (03/19,2017)\n")
        );
        let a = parse_answer(&out, &it);
        let (pid, info) = &a.keepalived[&0];
        assert_eq!(pid, "4242");
        assert_eq!(info.version_label(), "1.3.5");
        assert_eq!(info.dump, DumpMethod::Data { signal: 10 });
        assert_eq!(a.pid_of[&0], "4242");
        // A real 2.2.7 data dump, a garbage one, and none at all.
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keepalived/real/keepalived-master.data"
        ))
        .expect("fixture");
        let b64 = encode(&data);
        let (w, said) = parse_dump(&format!("data {b64}")).expect("a dump");
        assert_eq!(w, Witness::KeepalivedData);
        assert_eq!(said.expect("parses")[0].state, VrrpState::Master);
        let (_, bad) =
            parse_dump(&format!("data {}", enc("\u{1b}[2J not a dump"))).expect("a dump");
        assert!(bad.expect_err("garbage").contains("could not be read"));
        let (w, none) = parse_dump("json ").expect("a dump");
        assert_eq!(w, Witness::KeepalivedDump);
        assert!(none.expect_err("empty").contains("wrote no JSON dump"));
        assert!(parse_dump("xml AAAA").is_none());
    }
}
