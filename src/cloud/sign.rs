//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0.
//!
//! Pure functions: the client signs with them and the emulator verifies with
//! the same code. Every intermediate value is exposed so tests can compare
//! each step with the published worked example and the official SDK.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";

/// What gets signed. Header names in `signed_headers` are lowercase and
/// their values are taken from `headers` (lowercase names).
#[derive(Debug, Clone)]
pub struct SignInput<'a> {
    pub method: &'a str,
    /// Canonical URI, `/` for API 3.0.
    pub uri: &'a str,
    /// Canonical query string, empty for POST.
    pub query: &'a str,
    /// Lowercase header names and their values, in the order to sign.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
    pub service: &'a str,
    pub timestamp: i64,
}

/// Each step of a signature, for tests and for the emulator's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub canonical_request: String,
    pub hashed_canonical_request: String,
    pub credential_scope: String,
    pub string_to_sign: String,
    pub secret_date: Vec<u8>,
    pub secret_service: Vec<u8>,
    pub secret_signing: Vec<u8>,
    pub signed_headers: String,
    pub signature: String,
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp, as the scope uses it.
pub fn scope_date(timestamp: i64) -> String {
    DateTime::<Utc>::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// Computes the signature of `input` with `secret_key`.
pub fn sign(input: &SignInput<'_>, secret_key: &str) -> Signature {
    let canonical_headers: String = input
        .headers
        .iter()
        .map(|(k, v)| format!("{}:{}\n", k.to_ascii_lowercase(), v.trim()))
        .collect();
    let signed_headers = input
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        input.uri,
        input.query,
        canonical_headers,
        signed_headers,
        sha256_hex(input.payload)
    );
    let hashed_canonical_request = sha256_hex(canonical_request.as_bytes());
    let date = scope_date(input.timestamp);
    let credential_scope = format!("{date}/{}/tc3_request", input.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{hashed_canonical_request}",
        input.timestamp
    );
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, input.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    let signature = hex::encode(hmac_sha256(&secret_signing, string_to_sign.as_bytes()));
    Signature {
        canonical_request,
        hashed_canonical_request,
        credential_scope,
        string_to_sign,
        secret_date,
        secret_service,
        secret_signing,
        signed_headers,
        signature,
    }
}

/// The `Authorization` header value for a signature.
pub fn authorization(secret_id: &str, sig: &Signature) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{}, SignedHeaders={}, Signature={}",
        sig.credential_scope, sig.signed_headers, sig.signature
    )
}

/// The parts of a received `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
/// SignedHeaders=a;b, Signature=HEX`; `None` when it is not of that shape.
pub fn parse_authorization(header: &str) -> Option<ParsedAuthorization> {
    let rest = header.strip_prefix(ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let mut cred = credential?.split('/');
    let (secret_id, date, service, term) = (cred.next()?, cred.next()?, cred.next()?, cred.next()?);
    if term != "tc3_request" || cred.next().is_some() {
        return None;
    }
    Some(ParsedAuthorization {
        secret_id: secret_id.to_string(),
        date: date.to_string(),
        service: service.to_string(),
        signed_headers: signed?.split(';').map(str::to_string).collect(),
        signature: signature?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of the API 3.0 signature documentation:
    // DescribeInstances on cvm.tencentcloudapi.com at 1551113065.
    const ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******";
    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3*******";
    const PAYLOAD: &str = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    #[test]
    fn published_example_content_type_host() {
        let headers = [
            ("content-type", "application/json; charset=utf-8"),
            ("host", "cvm.tencentcloudapi.com"),
        ];
        let sig = sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers: &headers,
                payload: PAYLOAD.as_bytes(),
                service: "cvm",
                timestamp: 1551113065,
            },
            KEY,
        );
        assert_eq!(sig.credential_scope, "2019-02-25/cvm/tc3_request");
        assert_eq!(sig.signed_headers, "content-type;host");
        assert!(sig
            .canonical_request
            .ends_with("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"));
        assert_eq!(
            authorization(ID, &sig),
            format!(
                "TC3-HMAC-SHA256 Credential={ID}/2019-02-25/cvm/tc3_request, \
                 SignedHeaders=content-type;host, Signature={}",
                sig.signature
            )
        );
    }

    #[test]
    fn authorization_round_trips() {
        let headers = [("content-type", CONTENT_TYPE_JSON), ("host", "vpc.tencentcloudapi.com")];
        let sig = sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers: &headers,
                payload: b"{}",
                service: "vpc",
                timestamp: 1_700_000_000,
            },
            "k",
        );
        let parsed = parse_authorization(&authorization("AKIDx", &sig)).expect("parses");
        assert_eq!(parsed.secret_id, "AKIDx");
        assert_eq!(parsed.service, "vpc");
        assert_eq!(parsed.date, "2023-11-14");
        assert_eq!(parsed.signed_headers, vec!["content-type", "host"]);
        assert_eq!(parsed.signature, sig.signature);
        assert!(parse_authorization("Basic abc").is_none());
    }
}
