//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0.
//!
//! Pure functions: the client signs with them and the emulator verifies with
//! the same code. Every intermediate value is exposed so tests can compare
//! each step with the published worked example and the official SDK.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub(crate) const ALGORITHM: &str = "TC3-HMAC-SHA256";
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
/// `Debug` leaves out the derived keys: each signs anything for its day.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    pub(crate) canonical_request: String,
    pub(crate) hashed_canonical_request: String,
    pub(crate) credential_scope: String,
    pub string_to_sign: String,
    pub(crate) secret_date: Vec<u8>,
    pub(crate) secret_service: Vec<u8>,
    pub(crate) secret_signing: Vec<u8>,
    pub signed_headers: String,
    pub signature: String,
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signature")
            .field("canonical_request", &self.canonical_request)
            .field("hashed_canonical_request", &self.hashed_canonical_request)
            .field("credential_scope", &self.credential_scope)
            .field("string_to_sign", &self.string_to_sign)
            .field("derived_keys", &"<redacted>")
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .finish()
    }
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp, as the scope uses it.
pub fn scope_date(timestamp: i64) -> String {
    DateTime::<Utc>::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
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
    pub(crate) date: String,
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

    // The worked example of the API 3.0 signature documentation ("签名方法
    // v3"): DescribeInstances on cvm.tencentcloudapi.com at 1551113065.
    const PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const HASHED_PAYLOAD: &str = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064";
    const CT: &str = "application/json; charset=utf-8";

    fn example(headers: &[(&str, &str)], key: &str) -> Signature {
        sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers,
                payload: PAYLOAD.as_bytes(),
                service: "cvm",
                timestamp: 1551113065,
            },
            key,
        )
    }

    /// The edition signed with `content-type;host` (SecretId
    /// `AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE`, SecretKey
    /// `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`): canonical request, its hash,
    /// string to sign, signature and Authorization as published.
    #[test]
    fn published_example_content_type_host() {
        let headers = [("content-type", CT), ("host", "cvm.tencentcloudapi.com")];
        let sig = example(&headers, "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE");
        assert_eq!(sha256_hex(PAYLOAD.as_bytes()), HASHED_PAYLOAD);
        assert_eq!(
            sig.canonical_request,
            format!(
                "POST\n/\n\ncontent-type:application/json; charset=utf-8\n\
                 host:cvm.tencentcloudapi.com\n\ncontent-type;host\n{HASHED_PAYLOAD}"
            )
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(sig.credential_scope, "2019-02-25/cvm/tc3_request");
        assert_eq!(
            sig.string_to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            sig.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", &sig),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        // A later edition masked the key as `Gu5t9xGARNpq86cd98joQYCN3*******`;
        // the signature of that literal key is the one independent
        // implementations quote for this edition.
        let masked = example(&headers, "Gu5t9xGARNpq86cd98joQYCN3*******");
        assert_eq!(
            masked.hashed_canonical_request,
            sig.hashed_canonical_request
        );
        assert_eq!(
            masked.signature,
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    /// The current edition, signed with `content-type;host;x-tc-action` (the
    /// action's value lowercased) and a key of 32 `*`, which also publishes
    /// the derived keys in hex.
    #[test]
    fn published_example_with_action_header() {
        let key = "*".repeat(32);
        let headers = [
            ("content-type", CT),
            ("host", "cvm.tencentcloudapi.com"),
            ("x-tc-action", "describeinstances"),
        ];
        let sig = example(&headers, &key);
        assert_eq!(sig.signed_headers, "content-type;host;x-tc-action");
        assert_eq!(
            sig.canonical_request,
            format!(
                "POST\n/\n\ncontent-type:application/json; charset=utf-8\n\
                 host:cvm.tencentcloudapi.com\nx-tc-action:describeinstances\n\n\
                 content-type;host;x-tc-action\n{HASHED_PAYLOAD}"
            )
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            sig.string_to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            hex::encode(&sig.secret_date),
            "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0"
        );
        assert_eq!(
            hex::encode(&sig.secret_service),
            "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f"
        );
        assert_eq!(
            hex::encode(&sig.secret_signing),
            "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
        );
        assert_eq!(
            sig.signature,
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
        let id = format!("AKID{}", "*".repeat(32));
        assert_eq!(
            authorization(&id, &sig),
            format!(
                "TC3-HMAC-SHA256 Credential={id}/2019-02-25/cvm/tc3_request, \
                 SignedHeaders=content-type;host;x-tc-action, \
                 Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
            )
        );
        // The derived keys depend on key, date and service only: the
        // content-type;host request hashes as published with this key too.
        assert!(
            !format!("{sig:?}").contains("b596b923"),
            "derived keys stay out of Debug"
        );
        let two = example(&headers[..2], &key);
        assert_eq!(two.secret_signing, sig.secret_signing);
        assert_eq!(
            two.hashed_canonical_request,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
    }

    #[test]
    fn scope_date_is_utc() {
        // 1551113065 is 2019-02-26 00:44:25 in UTC+8.
        assert_eq!(scope_date(1551113065), "2019-02-25");
    }

    #[test]
    fn authorization_round_trips() {
        let headers = [
            ("content-type", CONTENT_TYPE_JSON),
            ("host", "vpc.tencentcloudapi.com"),
        ];
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
