//! The VPC API client: signed JSON POSTs, typed errors, bounded retries.
//!
//! Every request carries a timeout. Throttling (`RequestLimitExceeded`),
//! `InternalError`, timeouts and connection failures are retried with
//! exponential backoff and jitter up to [`RetryPolicy::max_attempts`];
//! authentication, authorization and parameter errors never are. Logs name
//! the action, the host, the attempt and the RequestId, never a header.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::credentials::{self, ChainOptions, CredentialError, CredentialProvider};
use crate::core::config::CloudConfig;
use crate::core::vpc::sign::{self, SignInput};
use crate::core::vpc::types::{
    DescribeHaVipsRequest, DescribeHaVipsResponse, DescribeNetworkInterfacesRequest,
    DescribeNetworkInterfacesResponse, DescribeVpcTaskResultRequest, DescribeVpcTaskResultResponse,
    Filter, HaVip, MigratePrivateIpAddressRequest, MigratePrivateIpAddressResponse,
    NetworkInterface, TaskStatus, MAX_LIMIT,
};

pub(crate) const SERVICE: &str = "vpc";
/// The largest answer body read (a real page of 100 ENIs is ~100 KiB).
pub(crate) const MAX_BODY: usize = 4 << 20;
/// The most pages one listing reads (100 items each).
pub(crate) const MAX_PAGES: usize = 50;
pub(crate) const API_VERSION: &str = "2017-03-12";
/// The content type the official SDK sends (and signs) for JSON POSTs.
pub(crate) const CONTENT_TYPE: &str = "application/json";

/// A failed cloud call. `Api` keeps what the cloud said, RequestId
/// included: operators quote it to support.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CloudError {
    #[error("{action}: {code}: {message} (RequestId {request_id})")]
    Api {
        action: String,
        code: String,
        message: String,
        request_id: String,
    },
    #[error("{action}: no answer within {timeout:?}")]
    Timeout { action: String, timeout: Duration },
    #[error("{action}: cannot reach {host}: {detail}")]
    Connect {
        action: String,
        host: String,
        detail: String,
    },
    #[error("{action}: HTTP {status} without an API answer")]
    Http { action: String, status: u16 },
    #[error("{action}: HTTP {status} redirects to {location}; vipdeck follows no redirects (is cloud.endpoint right?)")]
    Redirect {
        action: String,
        status: u16,
        location: String,
    },
    #[error("{action}: the answer is larger than {limit} bytes; not read further")]
    TooLarge { action: String, limit: usize },
    #[error("{action}: TotalCount {total} would take more than {pages} pages; not paging further")]
    TooManyPages {
        action: String,
        total: u64,
        pages: usize,
    },
    #[error("{action}: unexpected answer: {detail}")]
    Decode { action: String, detail: String },
    #[error("task {task_id} still RUNNING after {waited:?}")]
    TaskTimeout { task_id: String, waited: Duration },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("cloud client: {0}")]
    Config(String),
}

impl CloudError {
    /// The API error code, if the cloud answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CloudError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            CloudError::Api { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// Whether trying again may help. Authentication, authorization and
    /// parameter errors will fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            CloudError::Api { code, .. } => is_retryable_code(code),
            CloudError::Timeout { .. } | CloudError::Connect { .. } => true,
            CloudError::Http { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }
}

/// The retry rule for API error codes.
pub(crate) fn is_retryable_code(code: &str) -> bool {
    let family = |name: &str| code == name || code.starts_with(&format!("{name}."));
    if family("AuthFailure")
        || family("UnauthorizedOperation")
        || code.starts_with("InvalidParameter")
    {
        return false;
    }
    family("RequestLimitExceeded") || family("InternalError")
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `attempt` (1-based): exponential,
    /// capped, then scaled by `jitter` in [0, 1) into its upper half, so
    /// clients that failed together do not retry together.
    pub(crate) fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let factor = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
        // try_from: a huge configured delay must not panic on overflow.
        Duration::try_from_secs_f64(capped.as_secs_f64() * factor).unwrap_or(capped)
    }
}

/// Where and how to reach the API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://vpc.tencentcloudapi.com`, a region host, or an emulator
    /// such as `http://127.0.0.1:9400`. A bare host means https.
    pub endpoint: String,
    pub region: String,
    /// Per request, connection included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// How often `wait_task` asks for the task state.
    pub task_poll_interval: Duration,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, region: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            region: region.into(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            task_poll_interval: Duration::from_secs(1),
        }
    }
}

/// The `Host` header for an endpoint URL: host, plus `:port` when the port
/// is not the scheme's default. The official SDK signs the endpoint as
/// configured, so an emulator on `127.0.0.1:9400` sees `127.0.0.1:9400`.
pub fn host_header(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Whether the endpoint is this machine (an emulator).
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// Whether plain HTTP may carry signed requests (and an X-TC-Token) to
/// `url`: only to an emulator, on this machine or in a documentation
/// range (RFC 5737: the lab's bridge, where `vipdeck cloudsim` may
/// listen and which is never routed to the real API).
fn plain_http_allowed(url: &Url) -> bool {
    if is_loopback(url) {
        return true;
    }
    match url.host_str().map(str::parse::<std::net::Ipv4Addr>) {
        Some(Ok(v4)) => {
            let o = v4.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        }
        _ => false,
    }
}

/// Parses a configured endpoint; a bare host name means https.
pub fn parse_endpoint(endpoint: &str) -> Result<Url, CloudError> {
    let e = endpoint.trim();
    let with_scheme = if e.contains("://") {
        e.to_string()
    } else {
        format!("https://{e}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|err| CloudError::Config(format!("endpoint {e:?}: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CloudError::Config(format!(
            "endpoint {e:?} must be an http(s) URL with a host"
        )));
    }
    Ok(url)
}

/// The final state of an asynchronous task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub(crate) task_id: String,
    /// `Success` or `Failed`, never `Running`.
    pub status: TaskStatus,
    pub output: Option<String>,
    /// How many times the state was asked for.
    pub polls: u32,
}

impl TaskOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == TaskStatus::Success
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: serde_json::Value,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// Splits a response body into the success payload or a typed error.
pub fn decode_response<T: DeserializeOwned>(action: &str, body: &[u8]) -> Result<T, CloudError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| CloudError::Decode {
        action: action.to_string(),
        detail: format!("not an API envelope: {e}"),
    })?;
    if let Some(err) = env.response.get("Error") {
        let e: ApiErrorBody =
            serde_json::from_value(err.clone()).map_err(|e| CloudError::Decode {
                action: action.to_string(),
                detail: format!("bad Error object: {e}"),
            })?;
        let request_id = env
            .response
            .get("RequestId")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        return Err(CloudError::Api {
            action: action.to_string(),
            code: e.code,
            message: e.message,
            request_id,
        });
    }
    serde_json::from_value(env.response).map_err(|e| CloudError::Decode {
        action: action.to_string(),
        detail: e.to_string(),
    })
}

/// A client for one region of the VPC API.
#[derive(Debug, Clone)]
pub struct VpcClient {
    http: reqwest::Client,
    url: Url,
    host: String,
    config: ClientConfig,
    credentials: CredentialProvider,
}

/// Every page of a listing: `page(offset)` returns one page and the
/// total the cloud claims; paging stops at the total, at an empty page, or
/// with an error after [`MAX_PAGES`] (a total of 10^18 is not believed).
async fn all_pages<T, F, Fut>(action: &str, mut page: F) -> Result<Vec<T>, CloudError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, u64), CloudError>>,
{
    let mut out = Vec::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let (items, total) = page(offset).await?;
        let got = items.len() as u64;
        out.extend(items);
        offset += got;
        pages += 1;
        if got == 0 || offset >= total {
            return Ok(out);
        }
        if pages >= MAX_PAGES {
            return Err(CloudError::TooManyPages {
                action: action.into(),
                total,
                pages: MAX_PAGES,
            });
        }
    }
}

impl VpcClient {
    pub fn new(config: ClientConfig, credentials: CredentialProvider) -> Result<Self, CloudError> {
        let url = parse_endpoint(&config.endpoint)?;
        // Signed requests and a session token in the clear, across a
        // network: refused before any is sent.
        if url.scheme() == "http" && !plain_http_allowed(&url) {
            return Err(CloudError::Config(format!(
                "endpoint {url} is plain http on a host other than this machine: the signed \
                 requests and any session token would cross the network in the clear; use \
                 https (plain http is for an emulator on loopback)"
            )));
        }
        let host = host_header(&url)
            .ok_or_else(|| CloudError::Config(format!("endpoint {} has no host", url)))?;
        if config.region.trim().is_empty() {
            return Err(CloudError::Config("region is empty".into()));
        }
        if config.retry.max_attempts == 0 {
            return Err(CloudError::Config(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        // No redirects: a 3xx would re-send the signed request and the
        // X-TC-Token to another host and show its answer as the binding.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout);
        // An emulator on this machine is never reached through a proxy
        // from the environment; the real API may need one.
        if is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| CloudError::Config(e.to_string()))?;
        Ok(VpcClient {
            http,
            url,
            host,
            config,
            credentials,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// The `Host` header this client signs and sends.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where the credentials come from, for the status view.
    pub fn credential_source(&self) -> String {
        self.credentials.source()
    }

    /// Calls `action` with retries as the policy allows.
    pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        action: &str,
        request: &Req,
    ) -> Result<Resp, CloudError> {
        self.call_with(action, request, |e| e.is_retryable()).await
    }

    async fn call_with<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        action: &str,
        request: &Req,
        retryable: impl Fn(&CloudError) -> bool,
    ) -> Result<Resp, CloudError> {
        let body = serde_json::to_vec(request).map_err(|e| CloudError::Decode {
            action: action.to_string(),
            detail: format!("cannot encode request: {e}"),
        })?;
        let max = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = self.send_once(action, &body).await;
            match result {
                Ok(bytes) => match decode_response(action, &bytes) {
                    Ok(v) => return Ok(v),
                    Err(e) if attempt < max && retryable(&e) => {
                        self.pause(action, attempt, &e).await;
                    }
                    Err(e) => return Err(e),
                },
                Err(e) if attempt < max && retryable(&e) => {
                    self.pause(action, attempt, &e).await;
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
        }
    }

    async fn pause(&self, action: &str, attempt: u32, err: &CloudError) {
        let jitter: f64 = rand::thread_rng().gen();
        let delay = self.config.retry.delay(attempt, jitter);
        tracing::warn!(action, attempt, ?delay, error = %err, "cloud call failed, retrying");
        tokio::time::sleep(delay).await;
    }

    /// One signed POST; `Ok` carries the body of any answer that has one.
    async fn send_once(&self, action: &str, body: &[u8]) -> Result<Vec<u8>, CloudError> {
        let creds = self.credentials.get().await?;
        let timestamp = Utc::now().timestamp();
        let headers = [("content-type", CONTENT_TYPE), ("host", self.host.as_str())];
        let sig = sign::sign(
            &SignInput {
                method: "POST",
                uri: "/",
                query: "",
                headers: &headers,
                payload: body,
                service: SERVICE,
                timestamp,
            },
            creds.secret_key(),
        );
        let mut req = self
            .http
            .post(self.url.clone())
            .header("Content-Type", CONTENT_TYPE)
            .header("Host", &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", API_VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.config.region)
            .header(
                "Authorization",
                sign::authorization(creds.secret_id(), &sig),
            )
            .body(body.to_vec());
        if let Some(token) = creds.token() {
            req = req.header("X-TC-Token", token);
        }
        tracing::debug!(action, host = %self.host, region = %self.config.region, "cloud call");
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(action, &e))?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_else(|| "(no Location)".into());
            return Err(CloudError::Redirect {
                action: action.to_string(),
                status: status.as_u16(),
                location,
            });
        }
        let too_large = || CloudError::TooLarge {
            action: action.to_string(),
            limit: MAX_BODY,
        };
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(action, &e))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        // The API answers errors with 200 and an envelope; a bare 5xx is a
        // proxy or gateway speaking.
        if !status.is_success()
            && decode_response::<serde_json::Value>(action, &bytes)
                .is_err_and(|e| matches!(e, CloudError::Decode { .. }))
        {
            return Err(CloudError::Http {
                action: action.to_string(),
                status: status.as_u16(),
            });
        }
        let request_id = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["Response"]["RequestId"].as_str().map(str::to_string));
        tracing::debug!(
            action,
            request_id = request_id.as_deref().unwrap_or(""),
            "cloud answer"
        );
        Ok(bytes)
    }

    fn transport_error(&self, action: &str, e: &reqwest::Error) -> CloudError {
        if e.is_timeout() {
            CloudError::Timeout {
                action: action.to_string(),
                timeout: self.config.timeout,
            }
        } else if e.is_connect() || e.is_request() || e.is_body() {
            CloudError::Connect {
                action: action.to_string(),
                host: self.host.clone(),
                detail: error_chain(e),
            }
        } else {
            CloudError::Decode {
                action: action.to_string(),
                detail: error_chain(e),
            }
        }
    }

    pub async fn describe_network_interfaces(
        &self,
        req: &DescribeNetworkInterfacesRequest,
    ) -> Result<DescribeNetworkInterfacesResponse, CloudError> {
        self.call("DescribeNetworkInterfaces", req).await
    }

    pub async fn describe_ha_vips(
        &self,
        req: &DescribeHaVipsRequest,
    ) -> Result<DescribeHaVipsResponse, CloudError> {
        self.call("DescribeHaVips", req).await
    }

    /// All ENIs matching `ids` or `filters` (not both), page after page.
    pub async fn describe_network_interfaces_all(
        &self,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<NetworkInterface>, CloudError> {
        all_pages("DescribeNetworkInterfaces", |offset| async move {
            let req = DescribeNetworkInterfacesRequest {
                network_interface_ids: ids.to_vec(),
                filters: filters.to_vec(),
                offset: Some(offset),
                limit: Some(MAX_LIMIT),
            };
            let resp = self.describe_network_interfaces(&req).await?;
            Ok((resp.network_interface_set, resp.total_count))
        })
        .await
    }

    /// All HAVIPs matching `ids` or `filters` (not both), page after page.
    pub(crate) async fn describe_ha_vips_all(
        &self,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<HaVip>, CloudError> {
        all_pages("DescribeHaVips", |offset| async move {
            let req = DescribeHaVipsRequest {
                ha_vip_ids: ids.to_vec(),
                filters: filters.to_vec(),
                offset: Some(offset),
                limit: Some(MAX_LIMIT),
            };
            let resp = self.describe_ha_vips(&req).await?;
            Ok((resp.ha_vip_set, resp.total_count))
        })
        .await
    }

    /// Starts moving `ip` from ENI `src` to ENI `dst`; returns the RequestId
    /// to pass to [`VpcClient::wait_task`]. Only retried when the cloud
    /// surely did not act (throttled, or no connection): a timeout may hide
    /// a migration that started.
    pub async fn migrate_private_ip(
        &self,
        src: &str,
        dst: &str,
        ip: &str,
    ) -> Result<String, CloudError> {
        let req = MigratePrivateIpAddressRequest {
            source_network_interface_id: src.to_string(),
            destination_network_interface_id: dst.to_string(),
            private_ip_address: ip.to_string(),
        };
        let resp: MigratePrivateIpAddressResponse = self
            .call_with("MigratePrivateIpAddress", &req, |e| match e {
                CloudError::Api { code, .. } => {
                    code == "RequestLimitExceeded" || code.starts_with("RequestLimitExceeded.")
                }
                CloudError::Connect { .. } => true,
                _ => false,
            })
            .await?;
        if resp.request_id.is_empty() {
            return Err(CloudError::Decode {
                action: "MigratePrivateIpAddress".into(),
                detail: "no RequestId in the answer".into(),
            });
        }
        tracing::info!(src, dst, ip, request_id = %resp.request_id, "private IP migration started");
        Ok(resp.request_id)
    }

    pub(crate) async fn describe_vpc_task_result(
        &self,
        task_id: &str,
    ) -> Result<DescribeVpcTaskResultResponse, CloudError> {
        self.call(
            "DescribeVpcTaskResult",
            &DescribeVpcTaskResultRequest {
                task_id: task_id.to_string(),
            },
        )
        .await
    }

    /// Polls `DescribeVpcTaskResult` until the task is `SUCCESS` or
    /// `FAILED` (both are `Ok`), or `timeout` passes (`TaskTimeout`).
    pub async fn wait_task(
        &self,
        request_id: &str,
        timeout: Duration,
    ) -> Result<TaskOutcome, CloudError> {
        let start = tokio::time::Instant::now();
        let mut polls = 0;
        loop {
            polls += 1;
            let resp = self.describe_vpc_task_result(request_id).await?;
            match TaskStatus::parse(&resp.status) {
                Some(TaskStatus::Running) => {}
                Some(status) => {
                    return Ok(TaskOutcome {
                        task_id: request_id.to_string(),
                        status,
                        output: resp.output,
                        polls,
                    })
                }
                None => {
                    return Err(CloudError::Decode {
                        action: "DescribeVpcTaskResult".into(),
                        detail: format!("unknown Status {:?}", resp.status),
                    })
                }
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(CloudError::TaskTimeout {
                    task_id: request_id.to_string(),
                    waited,
                });
            }
            let left = timeout - waited;
            tokio::time::sleep(self.config.task_poll_interval.min(left)).await;
        }
    }
}

/// A client for `region` as `[cloud]` configures it (endpoint, timeout,
/// tccli profile), with credentials from the chain of the process.
pub async fn connect(cloud: &CloudConfig, region: &str) -> Result<VpcClient, CloudError> {
    connect_with(
        cloud,
        region,
        &ChainOptions::from_process(cloud.profile.clone()),
    )
    .await
}

/// [`connect`] with the credential chain's inputs given (tests).
pub(crate) async fn connect_with(
    cloud: &CloudConfig,
    region: &str,
    chain: &ChainOptions,
) -> Result<VpcClient, CloudError> {
    let provider = credentials::resolve(chain).await?;
    let mut cfg = ClientConfig::new(cloud.endpoint.clone(), region);
    cfg.timeout = cloud.timeout();
    VpcClient::new(cfg, provider)
}

/// A reqwest error with its causes, which hold the useful part
/// ("connection refused"). URLs in it carry no secrets.
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_uses_the_cloud_section() {
        let home = tempfile::tempdir().expect("tmp");
        let cloud = CloudConfig {
            endpoint: "http://127.0.0.1:9400".into(),
            timeout_ms: 1234,
            ..Default::default()
        };
        let chain = ChainOptions {
            env: [
                ("TENCENTCLOUD_SECRET_ID", "AKIDx"),
                ("TENCENTCLOUD_SECRET_KEY", "k"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            home: Some(home.path().to_path_buf()),
            tccli_profile: None,
            metadata_base: None,
            metadata_timeout: Duration::from_millis(10),
        };
        let c = connect_with(&cloud, "ap-shanghai", &chain)
            .await
            .expect("client");
        assert_eq!(c.host(), "127.0.0.1:9400");
        assert_eq!(c.region(), "ap-shanghai");
        assert_eq!(c.config().timeout, Duration::from_millis(1234));
        assert_eq!(c.credential_source(), "env");
        let none = ChainOptions {
            env: Default::default(),
            ..chain
        };
        let e = connect_with(&cloud, "ap-shanghai", &none)
            .await
            .expect_err("no creds");
        assert!(matches!(e, CloudError::Credentials(_)), "{e:?}");
    }

    #[tokio::test]
    async fn plain_http_is_refused_beyond_this_machine_and_the_lab() {
        let home = tempfile::tempdir().expect("tmp");
        let chain = ChainOptions {
            env: [
                ("TENCENTCLOUD_SECRET_ID", "AKIDx"),
                ("TENCENTCLOUD_SECRET_KEY", "k"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            home: Some(home.path().to_path_buf()),
            tccli_profile: None,
            metadata_base: None,
            metadata_timeout: Duration::from_millis(10),
        };
        let at = |endpoint: &str| CloudConfig {
            endpoint: endpoint.into(),
            ..Default::default()
        };
        for bad in [
            "http://vpc.tencentcloudapi.com",
            "http://10.0.0.5:9400",
            "http://vpc-proxy.internal:8080/",
        ] {
            let e = connect_with(&at(bad), "ap-guangzhou", &chain)
                .await
                .expect_err(bad);
            assert!(matches!(e, CloudError::Config(_)), "{bad}: {e:?}");
            let msg = e.to_string();
            assert!(msg.contains("https"), "{bad}: {msg}");
            assert!(!msg.contains("AKIDx"), "{msg}");
        }
        // The emulator: on this machine, or in the lab's documentation range.
        for good in [
            "https://vpc.tencentcloudapi.com",
            "vpc.ap-guangzhou.tencentcloudapi.com",
            "http://127.0.0.1:9400",
            "http://[::1]:9400",
            "http://localhost:9400",
            "http://198.51.100.1:18080",
        ] {
            connect_with(&at(good), "ap-guangzhou", &chain)
                .await
                .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn retry_rules() {
        for code in [
            "RequestLimitExceeded",
            "RequestLimitExceeded.UinLimitExceeded",
            "InternalError",
            "InternalError.ModuleError",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "AuthFailure",
            "AuthFailure.SignatureFailure",
            "AuthFailure.SignatureExpire",
            "UnauthorizedOperation",
            "InvalidParameter",
            "InvalidParameterValue.Malformed",
            "ResourceNotFound",
            "FailedOperation",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.delay(4, 1.0), Duration::from_millis(500));
        assert_eq!(p.delay(4, 0.0), Duration::from_millis(250));
        assert_eq!(p.delay(40, 0.5), Duration::from_millis(375));
        let huge = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
        };
        assert!(
            huge.delay(3, 1.0) > Duration::from_secs(1),
            "no overflow panic"
        );
    }

    #[test]
    fn host_header_keeps_non_default_ports() {
        let h = |s: &str| host_header(&parse_endpoint(s).expect("parses"));
        assert_eq!(
            h("http://127.0.0.1:9400").as_deref(),
            Some("127.0.0.1:9400")
        );
        assert_eq!(
            h("https://vpc.tencentcloudapi.com").as_deref(),
            Some("vpc.tencentcloudapi.com")
        );
        assert_eq!(
            h("vpc.ap-guangzhou.tencentcloudapi.com").as_deref(),
            Some("vpc.ap-guangzhou.tencentcloudapi.com")
        );
        assert_eq!(
            h("https://vpc.tencentcloudapi.com:443/").as_deref(),
            Some("vpc.tencentcloudapi.com")
        );
        assert!(parse_endpoint("ftp://x").is_err());
        let lo = |s: &str| is_loopback(&parse_endpoint(s).expect("parses"));
        assert!(lo("http://127.0.0.1:9400") && lo("http://[::1]:9400") && lo("http://localhost:1"));
        assert!(!lo("https://vpc.tencentcloudapi.com"));
    }

    #[test]
    fn error_envelope_keeps_code_message_and_request_id() {
        let body = br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"r-1"}}"#;
        let e =
            decode_response::<DescribeHaVipsResponse>("DescribeHaVips", body).expect_err("error");
        assert_eq!(e.code(), Some("AuthFailure.SignatureFailure"));
        assert_eq!(e.request_id(), Some("r-1"));
        assert!(e.to_string().contains("RequestId r-1"), "{e}");
        assert!(!e.is_retryable());
        let ok = br#"{"Response":{"TotalCount":1,"HaVipSet":[{"HaVipId":"havip-1","New":1}],"RequestId":"r-2"}}"#;
        let r = decode_response::<DescribeHaVipsResponse>("DescribeHaVips", ok).expect("decodes");
        assert_eq!(r.ha_vip_set[0].ha_vip_id, "havip-1");
        assert_eq!(r.request_id, "r-2");
    }
}
