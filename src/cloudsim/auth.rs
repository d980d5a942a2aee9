//! Verifies the TC3-HMAC-SHA256 signature of a received request the way the
//! real API does, with the same signer the client uses. Pure: the headers,
//! body and time are passed in.

use super::engine::{ApiError, API_VERSION};
use super::world::World;
use crate::core::vpc::sign::{parse_authorization, scope_date, sign, SignInput};

/// How far the request's `X-TC-Timestamp` may be from the server's clock.
pub(crate) const MAX_SKEW_SECS: i64 = 300;
const SERVICE: &str = "vpc";

/// A request as received: lowercase header names with their values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a> {
    pub method: &'a str,
    pub headers: &'a [(String, String)],
    pub(crate) body: &'a [u8],
}

impl Received<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a verified request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub secret_id: String,
    pub(crate) action: String,
}

fn signature_failure(why: &str) -> ApiError {
    ApiError::new(
        "AuthFailure.SignatureFailure",
        format!("The provided credentials could not be validated ({why}). Please check your signature is correct."),
    )
}

/// Equal-time comparison, so response timing reveals nothing of the
/// expected signature.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The SecretId named in the Authorization header, if it parses (for the
/// request log, even when verification fails).
pub(crate) fn claimed_secret_id(req: &Received<'_>) -> Option<String> {
    req.header("authorization")
        .and_then(parse_authorization)
        .map(|a| a.secret_id)
}

/// Checks signature, time, key, token, version and action header, in the
/// order the errors are documented. `now` is Unix seconds.
pub(crate) fn verify(req: &Received<'_>, world: &World, now: i64) -> Result<Verified, ApiError> {
    if req.method != "POST" {
        return Err(ApiError::new(
            "UnsupportedProtocol",
            "cloudsim accepts POST with a JSON body only.",
        ));
    }
    let auth_header = req.header("authorization").ok_or_else(|| {
        ApiError::new(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is missing.",
        )
    })?;
    let auth = parse_authorization(auth_header).ok_or_else(|| {
        ApiError::new(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header is not a TC3-HMAC-SHA256 authorization.",
        )
    })?;
    let ts_text = req.header("x-tc-timestamp").ok_or_else(|| {
        ApiError::new(
            "MissingParameter",
            "The request is missing `X-TC-Timestamp`.",
        )
    })?;
    let ts: i64 = ts_text.trim().parse().map_err(|_| {
        ApiError::new(
            "InvalidParameter",
            format!("`X-TC-Timestamp` {ts_text:?} is not a Unix time."),
        )
    })?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "Signature expired. Timestamp {ts} and server time {now} differ by more than {MAX_SKEW_SECS} seconds."
            ),
        ));
    }
    let key = world.key(&auth.secret_id).ok_or_else(|| {
        ApiError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )
    })?;
    if auth.service != SERVICE {
        return Err(signature_failure(
            "the credential scope names another service",
        ));
    }
    if auth.date != scope_date(ts) {
        return Err(signature_failure(
            "the credential scope date is not the date of X-TC-Timestamp",
        ));
    }
    for needed in ["content-type", "host"] {
        if !auth.signed_headers.iter().any(|h| h == needed) {
            return Err(signature_failure("content-type and host must be signed"));
        }
    }
    // The canonical form has header values lowercased and trimmed (sign()
    // trims), in the order SignedHeaders lists them.
    let mut values: Vec<String> = Vec::new();
    for name in &auth.signed_headers {
        let value = req
            .header(name)
            .ok_or_else(|| signature_failure("a signed header is missing from the request"))?;
        values.push(value.to_ascii_lowercase());
    }
    let signed: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .map(String::as_str)
        .zip(values.iter().map(String::as_str))
        .collect();
    let unsigned_payload = req
        .header("x-tc-content-sha256")
        .is_some_and(|v| v == "UNSIGNED-PAYLOAD");
    let payload: &[u8] = if unsigned_payload {
        b"UNSIGNED-PAYLOAD"
    } else {
        req.body
    };
    let expected = sign(
        &SignInput {
            method: req.method,
            uri: "/",
            query: "",
            headers: &signed,
            payload,
            service: SERVICE,
            timestamp: ts,
        },
        key.secret_key.expose(),
    );
    if !same(&expected.signature, &auth.signature) {
        return Err(signature_failure("the signature does not match"));
    }
    if let Some(token) = &key.token {
        if !req
            .header("x-tc-token")
            .is_some_and(|t| same(t, token.expose()))
        {
            return Err(ApiError::new(
                "AuthFailure.TokenFailure",
                "The X-TC-Token is missing or wrong for these temporary credentials.",
            ));
        }
    }
    let version = req.header("x-tc-version").ok_or_else(|| {
        ApiError::new("MissingParameter", "The request is missing `X-TC-Version`.")
    })?;
    if version != API_VERSION {
        return Err(ApiError::new(
            "NoSuchVersion",
            format!("The API version `{version}` does not exist for vpc; use {API_VERSION}."),
        ));
    }
    // Resources live in one region: a call for another region would find
    // nothing in the real cloud; here it is refused so the mistake shows.
    let region = req.header("x-tc-region").ok_or_else(|| {
        ApiError::new("MissingParameter", "The request is missing `X-TC-Region`.")
    })?;
    if region != world.region {
        return Err(ApiError::new(
            "UnsupportedRegion",
            format!(
                "The region `{region}` is not served here; this world is `{}`.",
                world.region
            ),
        ));
    }
    let action = req.header("x-tc-action").ok_or_else(|| {
        ApiError::new("MissingParameter", "The request is missing `X-TC-Action`.")
    })?;
    Ok(Verified {
        secret_id: auth.secret_id,
        action: action.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudsim::world::{example_world, Secret};
    use crate::core::vpc::sign::{authorization, CONTENT_TYPE_JSON};

    const NOW: i64 = 1_795_000_000;

    struct Req {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Req {
        fn received(&self) -> Received<'_> {
            Received {
                method: "POST",
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    /// A request signed like the client signs it, with `extra` headers
    /// added to the signed set.
    fn signed(id: &str, key: &str, ts: i64, body: &str, signed_action: Option<&str>) -> Req {
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), CONTENT_TYPE_JSON.into()),
            ("host".into(), "127.0.0.1:9400".into()),
        ];
        let mut to_sign: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(v) = signed_action {
            to_sign.push(("x-tc-action", v));
        }
        let sig = sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers: &to_sign,
                payload: body.as_bytes(),
                service: "vpc",
                timestamp: ts,
            },
            key,
        );
        headers.push(("x-tc-action".into(), "DescribeHaVips".into()));
        headers.push(("x-tc-timestamp".into(), ts.to_string()));
        headers.push(("x-tc-version".into(), API_VERSION.into()));
        headers.push(("x-tc-region".into(), "ap-guangzhou".into()));
        headers.push(("authorization".into(), authorization(id, &sig)));
        Req {
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn code(r: Result<Verified, ApiError>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(e) => e.code,
        }
    }

    #[test]
    fn good_and_bad_signatures() {
        let w = example_world().expect("world");
        let (id, key) = (
            w.keys[1].secret_id.clone(),
            w.keys[1].secret_key.expose().to_string(),
        );
        let good = signed(&id, &key, NOW - 10, "{}", None);
        assert_eq!(
            verify(&good.received(), &w, NOW),
            Ok(Verified {
                secret_id: id.clone(),
                action: "DescribeHaVips".into()
            })
        );
        // Extra signed headers count, with their values lowercased as the
        // signature documentation has it (x-tc-action:describehavips).
        let lower = signed(&id, &key, NOW, "{}", Some("describehavips"));
        assert_eq!(code(verify(&lower.received(), &w, NOW)), "ok");
        let mixed = signed(&id, &key, NOW, "{}", Some("DescribeHaVips"));
        assert_eq!(
            code(verify(&mixed.received(), &w, NOW)),
            "AuthFailure.SignatureFailure"
        );

        let mut tampered = signed(&id, &key, NOW, r#"{"Limit":1}"#, None);
        tampered.body = br#"{"Limit":2}"#.to_vec();
        assert_eq!(
            code(verify(&tampered.received(), &w, NOW)),
            "AuthFailure.SignatureFailure"
        );
        assert_eq!(
            code(verify(
                &signed(&id, "wrong", NOW, "{}", None).received(),
                &w,
                NOW
            )),
            "AuthFailure.SignatureFailure"
        );
        assert_eq!(
            code(verify(
                &signed(&id, &key, NOW - 301, "{}", None).received(),
                &w,
                NOW
            )),
            "AuthFailure.SignatureExpire"
        );
        assert_eq!(
            code(verify(
                &signed(&id, &key, NOW + 301, "{}", None).received(),
                &w,
                NOW
            )),
            "AuthFailure.SignatureExpire"
        );
        assert_eq!(
            code(verify(
                &signed(&id, &key, NOW - 300, "{}", None).received(),
                &w,
                NOW
            )),
            "ok"
        );
        assert_eq!(
            code(verify(
                &signed("AKIDnobody", &key, NOW, "{}", None).received(),
                &w,
                NOW
            )),
            "AuthFailure.SecretIdNotFound"
        );

        // A host other than the signed one breaks the signature.
        let mut moved = signed(&id, &key, NOW, "{}", None);
        moved.headers[1].1 = "vpc.tencentcloudapi.com".into();
        assert_eq!(
            code(verify(&moved.received(), &w, NOW)),
            "AuthFailure.SignatureFailure"
        );

        let mut old_version = signed(&id, &key, NOW, "{}", None);
        for h in &mut old_version.headers {
            if h.0 == "x-tc-version" {
                h.1 = "2019-07-19".into();
            }
        }
        assert_eq!(
            code(verify(&old_version.received(), &w, NOW)),
            "NoSuchVersion"
        );

        for (region, expected) in [
            (None, "MissingParameter"),
            (Some("ap-shanghai"), "UnsupportedRegion"),
        ] {
            let mut r = signed(&id, &key, NOW, "{}", None);
            r.headers.retain(|(k, _)| k != "x-tc-region");
            if let Some(region) = region {
                r.headers.push(("x-tc-region".into(), region.into()));
            }
            assert_eq!(code(verify(&r.received(), &w, NOW)), expected);
        }

        let mut no_auth = signed(&id, &key, NOW, "{}", None);
        no_auth.headers.retain(|(k, _)| k != "authorization");
        assert_eq!(
            code(verify(&no_auth.received(), &w, NOW)),
            "AuthFailure.InvalidAuthorization"
        );
    }

    #[test]
    fn temporary_keys_need_their_token() {
        let mut w = example_world().expect("world");
        w.keys[0].token = Some(Secret::new("tok-123"));
        let (id, key) = (
            w.keys[0].secret_id.clone(),
            w.keys[0].secret_key.expose().to_string(),
        );
        let mut r = signed(&id, &key, NOW, "{}", None);
        assert_eq!(
            code(verify(&r.received(), &w, NOW)),
            "AuthFailure.TokenFailure"
        );
        r.headers.push(("x-tc-token".into(), "tok-123".into()));
        assert_eq!(code(verify(&r.received(), &w, NOW)), "ok");
    }

    #[test]
    fn errors_never_carry_the_key() {
        let w = example_world().expect("world");
        let key = w.keys[0].secret_key.expose().to_string();
        let bad = signed(&w.keys[0].secret_id, "wrong", NOW, "{}", None);
        let e = verify(&bad.received(), &w, NOW).expect_err("fails");
        assert!(!e.message.contains(&key));
    }
}
