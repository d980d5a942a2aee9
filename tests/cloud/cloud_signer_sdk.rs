//! The Rust TC3 signer against the official Tencent Cloud Python SDK.
//!
//! Generates hundreds of varied requests (keys, ids, timestamps across
//! dates and around UTC midnight, services, region hosts and emulator
//! hosts with ports, actions, payloads with unicode), has the SDK build and
//! sign each one through its own code path (tests/sdk/sign.py), and checks
//! that vipdeck's signer gives the same Authorization for the same bytes.
//! The `content-type;host;x-tc-action` form, which the SDK does not send,
//! is checked through the SDK's `Sign.sign_tc3` on vipdeck's string to sign.
//!
//! Needs the virtualenv of scripts/setup-venv.sh; without it the test fails
//! and says how to create it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use vipdeck::core::vpc::sign::{authorization, scope_date, sign, SignInput};
use vipdeck::sources::cloud::client::{host_header, parse_endpoint};

const CASES: usize = 320;

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn random_string(rng: &mut StdRng, alphabet: &[char], len: usize) -> String {
    (0..len).map(|_| *pick(rng, alphabet)).collect()
}

/// Strings that trip naive encoders: CJK, accents, emoji, quotes, escapes.
const WORDS: &[&str] = &[
    "未命名",
    "主备切换",
    "ação",
    "conexão perdida",
    "🚀",
    "quote\"inside",
    "back\\slash",
    "tab\tand\nnewline",
    "",
    "plain",
    "172.16.16.12",
    "havip-abcd1234",
    "eni-pvsvph0u",
];

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 2 { 4 } else { 6 }) {
        0 => json!(pick(rng, WORDS)),
        1 => json!(rng.gen_range(-5i64..100_000)),
        2 => json!(rng.gen_bool(0.5)),
        3 => json!(format!("{}-{}", pick(rng, WORDS), rng.gen_range(0..1000))),
        4 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..4) {
                m.insert(
                    pick(
                        rng,
                        &["Name", "Values", "Limit", "Offset", "HaVipIds", "名字"],
                    )
                    .to_string(),
                    random_value(rng, depth + 1),
                );
            }
            Value::Object(m)
        }
    }
}

fn random_params(rng: &mut StdRng, action: &str) -> Value {
    match action {
        "DescribeHaVips" => json!({
            "HaVipIds": (0..rng.gen_range(0..4)).map(|i| format!("havip-{i:08x}")).collect::<Vec<_>>(),
            "Filters": [{"Name": "vip", "Values": [pick(rng, WORDS)]}],
            "Offset": rng.gen_range(0..500),
            "Limit": 100,
        }),
        "MigratePrivateIpAddress" => json!({
            "SourceNetworkInterfaceId": "eni-aaaa1111",
            "DestinationNetworkInterfaceId": "eni-bbbb2222",
            "PrivateIpAddress": format!("10.0.{}.{}", rng.gen_range(0..255), rng.gen_range(1..255)),
        }),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..5) {
                m.insert(
                    format!(
                        "{}{}",
                        pick(rng, &["Filters", "Limit", "Note", "说明"]),
                        rng.gen_range(0..9)
                    ),
                    random_value(rng, 0),
                );
            }
            Value::Object(m)
        }
    }
}

fn timestamp(rng: &mut StdRng) -> i64 {
    match rng.gen_range(0..4) {
        // Around UTC midnight, where a local-time date would be wrong.
        0 => {
            let day = rng.gen_range(10_000i64..30_000) * 86_400;
            day + pick(rng, &[-1i64, 0, 1, 86_399])
        }
        1 => 1551113065,
        _ => rng.gen_range(946_684_800i64..4_102_444_800),
    }
}

struct Case {
    input: Value,
    action_sig_input: (String, String, String), // date, string_to_sign, signature
}

fn make_case(rng: &mut StdRng) -> Case {
    let id_chars: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
    let mut key_chars = id_chars.clone();
    key_chars.extend("+/=*-_.!~".chars());
    if rng.gen_bool(0.1) {
        key_chars.extend("密钥ção".chars());
    }
    let id_len = rng.gen_range(8..40);
    let secret_id = format!("AKID{}", random_string(rng, &id_chars, id_len));
    let key_len = rng.gen_range(1..48);
    let secret_key = random_string(rng, &key_chars, key_len);
    let service = *pick(rng, &["vpc", "cvm", "clb", "tag", "sts", "cam"]);
    let host = match rng.gen_range(0..5) {
        0 => format!("{service}.tencentcloudapi.com"),
        1 => format!(
            "{service}.{}.tencentcloudapi.com",
            pick(
                rng,
                &["ap-guangzhou", "ap-shanghai", "sa-saopaulo", "na-ashburn"]
            )
        ),
        2 => "vpc.ap-guangzhou.tencentcloudapi.com".to_string(),
        3 => format!("127.0.0.1:{}", rng.gen_range(1024..65535)),
        _ => format!("localhost:{}", rng.gen_range(1024..65535)),
    };
    let action = *pick(
        rng,
        &[
            "DescribeHaVips",
            "DescribeNetworkInterfaces",
            "MigratePrivateIpAddress",
            "DescribeVpcTaskResult",
            "DescribeInstances",
        ],
    );
    let params = random_params(rng, action);
    let ts = timestamp(rng);
    let token = rng.gen_bool(0.3).then(|| random_string(rng, &id_chars, 40));

    // vipdeck's own bytes, signed with the action header as the current
    // documentation does.
    let payload = serde_json::to_vec(&params).expect("encodes");
    let lower_action = action.to_ascii_lowercase();
    let headers = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
        ("x-tc-action", lower_action.as_str()),
    ];
    let sig = sign(
        &SignInput {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: &payload,
            service,
            timestamp: ts,
        },
        &secret_key,
    );
    let date = scope_date(ts);
    let input = json!({
        "secret_id": secret_id,
        "secret_key": secret_key,
        "token": token,
        "service": service,
        "host": host,
        "region": pick(rng, &["ap-guangzhou", "ap-shanghai", "sa-saopaulo"]),
        "version": "2017-03-12",
        "action": action,
        "params": params,
        "timestamp": ts,
        "date": date,
        "string_to_sign": sig.string_to_sign,
    });
    Case {
        input,
        action_sig_input: (date, sig.string_to_sign.clone(), sig.signature),
    }
}

#[test]
fn signer_matches_the_official_python_sdk() {
    let python = crate::venv_python();
    let seed: u64 = std::env::var("VIPDECK_SIGNER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("seed {seed} (set VIPDECK_SIGNER_SEED to repeat)");
    let mut rng = StdRng::seed_from_u64(seed);
    let cases: Vec<Case> = (0..CASES).map(|_| make_case(&mut rng)).collect();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/sign.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("runs the SDK helper");
    let mut stdin = child.stdin.take().expect("stdin");
    let lines: Vec<String> = cases.iter().map(|c| c.input.to_string()).collect();
    // Write from a thread: the helper answers line by line and would block
    // on a full pipe while this thread is still writing.
    let writer = std::thread::spawn(move || {
        for l in lines {
            writeln!(stdin, "{l}").expect("writes a case");
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let answers: Vec<Value> = BufReader::new(stdout)
        .lines()
        .map(|l| serde_json::from_str(&l.expect("reads")).expect("helper prints JSON"))
        .collect();
    writer.join().expect("writer");
    assert!(child.wait().expect("helper exits").success());
    assert_eq!(answers.len(), cases.len(), "one answer per case");

    let mut hosts_with_port = 0;
    let mut midnight = 0;
    for (i, (case, sdk)) in cases.iter().zip(&answers).enumerate() {
        assert!(sdk.get("error").is_none(), "case {i}: SDK error {sdk}");
        let input = &case.input;
        let payload = sdk["payload"].as_str().expect("payload");
        let sdk_headers = &sdk["headers"];
        let host = sdk_headers["Host"].as_str().expect("Host");
        let content_type = sdk_headers["Content-Type"].as_str().expect("Content-Type");
        assert_eq!(
            host, input["host"],
            "case {i}: the SDK sends the endpoint as Host"
        );
        // The client's Host rule gives what the SDK sends for the same endpoint.
        let scheme = if host.contains(':') { "http" } else { "https" };
        let url = parse_endpoint(&format!("{scheme}://{host}")).expect("endpoint");
        assert_eq!(host_header(&url).as_deref(), Some(host), "case {i}");
        if host.contains(':') {
            hosts_with_port += 1;
        }
        let ts = input["timestamp"].as_i64().expect("ts");
        if ts.rem_euclid(86_400) < 2 || ts.rem_euclid(86_400) == 86_399 {
            midnight += 1;
        }

        // Same bytes, same headers: the same Authorization, byte for byte.
        let service = input["service"].as_str().expect("service");
        let sig = sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers: &[("content-type", content_type), ("host", host)],
                payload: payload.as_bytes(),
                service,
                timestamp: ts,
            },
            input["secret_key"].as_str().expect("key"),
        );
        let ours = authorization(input["secret_id"].as_str().expect("id"), &sig);
        assert_eq!(
            ours,
            sdk["authorization"].as_str().expect("authorization"),
            "case {i}: {input}"
        );
        if let Some(token) = input["token"].as_str() {
            assert_eq!(sdk_headers["X-TC-Token"], token, "case {i}");
        }

        // The action-header form: the SDK's key derivation and final HMAC
        // over vipdeck's string to sign.
        let (date, sts, action_sig) = &case.action_sig_input;
        assert_eq!(input["date"], date.as_str());
        assert_eq!(input["string_to_sign"], sts.as_str());
        assert_eq!(
            sdk["sign_tc3"],
            action_sig.as_str(),
            "case {i}: x-tc-action form"
        );
    }
    println!(
        "{} cases equal to the official SDK ({hosts_with_port} hosts with a port, {midnight} timestamps at UTC midnight)",
        cases.len()
    );
    assert!(
        hosts_with_port > 0 && midnight > 0,
        "the generator covers ports and midnights"
    );
}
