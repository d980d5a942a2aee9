//! Fuzzing every parser of peer and cloud input with proptest: inputs are
//! the real files (tests/fixtures, the source documents in shared/seeds)
//! mutated with the bytes that break parsers (braces, quotes, NULs, ESC,
//! bytes that are not UTF-8, very long runs). Zero panics is the bar.
//!
//! Each target runs for `VIPDECK_FUZZ_SECS` seconds (default: a short
//! smoke run of 1 s) and prints its iterations, time and crashes;
//! scripts/test.sh runs it longer.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use vipdeck::core::keepalived::{conf, dump, logline, parse_state};
use vipdeck::core::vpc::types::{DescribeHaVipsResponse, DescribeNetworkInterfacesResponse};

/// Every readable file under `dir` (recursively), as bytes.
fn files_under(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push(b);
        }
    }
}

/// The seed corpus: the fixtures, the shared seeds (beside the checkout,
/// when present) and cut pieces of both (the seeds are long documents
/// that quote configs and logs).
fn corpus() -> Arc<Vec<Vec<u8>>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    files_under(&root.join("tests/fixtures"), &mut files);
    files_under(&root.join("../shared/seeds"), &mut files);
    let mut out = Vec::new();
    for f in files {
        for piece in f.chunks(4096) {
            out.push(piece.to_vec());
        }
    }
    out.push(br#"{"Response":{"TotalCount":1,"HaVipSet":[{"HaVipId":"havip-1","State":"AVAILABLE","NetworkInterfaceId":"eni-1"}],"RequestId":"r"}}"#.to_vec());
    out.push(br#"{"Response":{"TotalCount":1,"NetworkInterfaceSet":[{"NetworkInterfaceId":"eni-1","PrivateIpAddressSet":[{"PrivateIpAddress":"10.0.0.1","Primary":false}]}],"RequestId":"r"}}"#.to_vec());
    out.push(
        br#"{"Response":{"Error":{"Code":"InternalError","Message":"x"},"RequestId":"r"}}"#
            .to_vec(),
    );
    out.push(b"@@state 1700000000 TUFTVEVS\n@@pid 12\n@@ip\n2: eth0 inet 192.0.2.10/24\n@@endip\n@@conf 1 dnJycF9pbnN0YW5jZSBWSV8xIHsKfQo=\n".to_vec());
    Arc::new(out)
}

const NASTY: &[u8] = b"{}{}\"\"\n\n#!\x00\x1b\x07\xff\xfe\xe2\x80\xae[]:,-9 \t\r@=";

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// Repeat a slice many times (deep nesting, huge lines).
    Repeat(usize, usize, usize),
    Truncate(usize),
}

fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match op {
            Op::Insert(i, bytes) => {
                let i = at(*i, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Op::Delete(i, n) => {
                let i = at(*i, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Op::Repeat(i, n, times) => {
                let i = at(*i, b.len());
                let end = (i + n % 8 + 1).min(b.len());
                let piece = b[i..end].repeat(*times);
                b.splice(end..end, piece);
            }
            Op::Truncate(i) => {
                let i = at(*i, b.len());
                b.truncate(i);
            }
        }
        if b.len() > 256 << 10 {
            b.truncate(256 << 10);
        }
    }
    b
}

fn inputs(seeds: Arc<Vec<Vec<u8>>>) -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        (
            any::<usize>(),
            prop::collection::vec(prop::sample::select(NASTY), 1..32)
        )
            .prop_map(|(i, b)| Op::Insert(i, b)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Op::Delete(i, n)),
        (any::<usize>(), any::<usize>(), 0usize..10_000).prop_map(|(i, n, t)| Op::Repeat(i, n, t)),
        any::<usize>().prop_map(Op::Truncate),
    ];
    let n = seeds.len();
    prop_oneof![
        8 => (0..n, prop::collection::vec(op, 0..6)).prop_map(move |(i, ops)| apply(&seeds[i], &ops)),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Runs `target` on inputs drawn from `strategy` for `VIPDECK_FUZZ_SECS`
/// (default 1 s) and prints `fuzz NAME: N iterations, T s, C crashes`
/// (scripts/test.sh greps that line). A crashing input is kept in a file
/// (its Debug form) and named.
pub(crate) fn fuzz_for<T: std::fmt::Debug>(
    name: &str,
    strategy: impl Strategy<Value = T>,
    target: impl Fn(&T),
) {
    let secs: f64 = std::env::var("VIPDECK_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let budget = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut iterations = 0u64;
    let mut runner = TestRunner::new(Config::default());
    while started.elapsed() < budget {
        let input = strategy.new_tree(&mut runner).expect("an input").current();
        iterations += 1;
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        if crashed.is_err() {
            let keep =
                std::env::temp_dir().join(format!("vipdeck-fuzz-{}.txt", name.replace(' ', "-")));
            let _ = std::fs::write(&keep, format!("{input:?}"));
            println!(
                "fuzz {name}: {iterations} iterations, {:.1}s, 1 crash (input kept in {})",
                started.elapsed().as_secs_f64(),
                keep.display()
            );
            panic!("fuzz {name}: a target panicked");
        }
    }
    println!(
        "fuzz {name}: {iterations} iterations, {:.1}s, 0 crashes",
        started.elapsed().as_secs_f64()
    );
}

/// [`fuzz_for`] on the parsers' inputs: the fixtures and seeds, mutated.
fn fuzz(name: &str, target: impl Fn(&[u8])) {
    fuzz_for(name, inputs(corpus()), |b: &Vec<u8>| target(b));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn fuzz_keepalived_conf() {
    fuzz("keepalived.conf", |b| {
        let t = text(b);
        let _ = conf::parse_lenient(&t, &|_| None);
        // An include that includes itself: bounded by depth and bytes.
        if t.len() < 8 << 10 {
            let main = format!("include self\n{t}");
            let _ = conf::parse_with_includes(&main, &|_| Some(main.clone()));
        }
    });
}

#[test]
fn fuzz_state_file() {
    fuzz("state file", |b| {
        let _ = parse_state(b);
    });
}

#[test]
fn fuzz_dumps() {
    fuzz("keepalived dumps", |b| {
        let _ = dump::parse_json_dump(b);
        let _ = dump::parse_data_dump(b);
    });
}

#[test]
fn fuzz_log_lines() {
    let offset = FixedOffset::east_opt(8 * 3600).expect("offset");
    let reference = Utc
        .with_ymd_and_hms(2026, 11, 21, 22, 44, 1)
        .single()
        .expect("time");
    fuzz("log lines", |b| {
        for line in b.split(|c| *c == b'\n') {
            let _ = logline::parse_line(line, offset, reference);
        }
        let _ = vipdeck::core::logs::parse_stream(
            b,
            0,
            vipdeck::core::model::LogSource::Script,
            offset,
            reference,
        );
        let _ = vipdeck::core::logs::parse_duration(&text(b));
    });
}

#[test]
fn fuzz_probe_answers() {
    let now = Utc::now();
    fuzz("probe answers", |b| {
        let _ = vipdeck::sources::probe::parse(&text(b), "192.0.2.10", now);
    });
}

#[test]
fn fuzz_api_json() {
    fuzz("cloud API JSON", |b| {
        let _ = vipdeck::sources::cloud::client::decode_response::<DescribeHaVipsResponse>(
            "DescribeHaVips",
            b,
        );
        let _ = vipdeck::sources::cloud::client::decode_response::<DescribeNetworkInterfacesResponse>(
            "DescribeNetworkInterfaces",
            b,
        );
        let _ = vipdeck::core::vpc::sign::parse_authorization(&text(b));
        let _ = vipdeck::core::vpc::types::parse_api_time(&text(b));
    });
}

#[test]
fn fuzz_sanitiser() {
    fuzz("sanitiser", |b| {
        let shown = vipdeck::core::sanitize::clean(&text(b));
        assert!(vipdeck::core::sanitize::is_safe(&shown));
    });
}
