//! Alertmanager silences for maintenance windows, through its v2 API:
//! `POST /api/v2/silences` when a window opens, `DELETE
//! /api/v2/silence/{id}` when it ends. Every failure (unreachable, an
//! error status, no answer within `[alertmanager] timeout_ms`) comes back
//! as words for the operator: a window never waits on Alertmanager.

use std::time::Duration;

use serde_json::json;

use crate::core::config::{ClusterConfig, Config};
use crate::core::marker::MaintenanceMarker;
use crate::core::sanitize::{clean, clip};

/// The shipped rules' alerts (deploy/prometheus): their names all start
/// with `Vipdeck`, and every per-cluster one carries a `cluster` label.
pub(crate) const ALERTNAME_RE: &str = "Vipdeck.*";

/// The silence's body for `cluster`'s window.
pub(crate) fn silence_body(cluster: &str, m: &MaintenanceMarker) -> serde_json::Value {
    json!({
        "matchers": [
            {"name": "cluster", "value": cluster, "isRegex": false, "isEqual": true},
            {"name": "alertname", "value": ALERTNAME_RE, "isRegex": true, "isEqual": true},
        ],
        "startsAt": m.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "endsAt": m.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "createdBy": m.by,
        "comment": format!("vipdeck maintenance: {}", m.reason),
    })
}

fn client(config: &Config) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(config.alertmanager.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

fn failed(url: &str, config: &Config, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!(
            "{url} did not answer within {} ms ([alertmanager] timeout_ms)",
            config.alertmanager.timeout_ms
        )
    } else {
        format!("cannot reach {url}: {}", clip(&clean(&e.to_string()), 200))
    }
}

async fn refused(url: &str, r: reqwest::Response) -> String {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    format!(
        "{url} answered {status}: {}",
        clip(&clean(body.trim()), 200)
    )
}

/// Creates the silence of `cluster`'s window: its id, `None` without
/// `[alertmanager] url`, or why it could not.
pub(crate) async fn silence_for(
    config: &Config,
    cluster: &ClusterConfig,
    m: &MaintenanceMarker,
) -> Result<Option<String>, String> {
    let Some(base) = &config.alertmanager.url else {
        return Ok(None);
    };
    let url = format!("{}/api/v2/silences", base.trim_end_matches('/'));
    let r = client(config)?
        .post(&url)
        .json(&silence_body(&cluster.name, m))
        .send()
        .await
        .map_err(|e| failed(&url, config, &e))?;
    if !r.status().is_success() {
        return Err(refused(&url, r).await);
    }
    let v: serde_json::Value = r
        .json()
        .await
        .map_err(|e| format!("{url}: not a silence answer: {e}"))?;
    match v.get("silenceID").and_then(|i| i.as_str()) {
        Some(id) => Ok(Some(clip(&clean(id), 80))),
        None => Err(format!("{url}: the answer has no silenceID")),
    }
}

/// Expires silence `id`.
pub(crate) async fn expire(config: &Config, id: &str) -> Result<(), String> {
    let Some(base) = &config.alertmanager.url else {
        return Err(format!(
            "silence {id} was made, but [alertmanager] url is no longer set: expire it by hand"
        ));
    };
    // The id goes into a path: only what Alertmanager's ids are made of.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("not a silence id: {}", clip(&clean(id), 80)));
    }
    let url = format!("{}/api/v2/silence/{id}", base.trim_end_matches('/'));
    let r = client(config)?
        .delete(&url)
        .send()
        .await
        .map_err(|e| failed(&url, config, &e))?;
    if r.status().is_success() {
        return Ok(());
    }
    let err = refused(&url, r).await;
    // A silence past its end is expired by Alertmanager itself, which then
    // refuses to expire it again: that is the end asked for.
    if state_of(config, &url).await.as_deref() == Some("expired") {
        return Ok(());
    }
    Err(err)
}

/// The `status.state` of the silence at `url` (`active`, `expired`, `pending`).
async fn state_of(config: &Config, url: &str) -> Option<String> {
    let v: serde_json::Value = client(config)
        .ok()?
        .get(url)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["status"]["state"].as_str().map(str::to_string)
}
