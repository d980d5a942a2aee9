//! The credential chain of the official Tencent Cloud tools (DESIGN.md,
//! "Contracts"), first match wins:
//!
//! 1. environment: `TENCENTCLOUD_SECRET_ID` / `TENCENTCLOUD_SECRET_KEY`, token
//!    from `TENCENTCLOUD_TOKEN` (tccli) or `TENCENTCLOUD_SECURITY_TOKEN`
//!    (Terraform);
//! 2. the SDK profile file, INI `[default]` `secret_id` / `secret_key`, at
//!    `TENCENTCLOUD_CREDENTIALS_FILE` or `~/.tencentcloud/credentials`;
//! 3. tccli's `~/.tccli/<profile>.credential`, JSON `secretId` / `secretKey` /
//!    `token`, profile from the caller, `TCCLI_PROFILE` or `default`;
//! 4. the CVM role from the instance metadata service: temporary keys with a
//!    token, fetched again shortly before they expire.
//!
//! The secret key never leaves this module except into the signer:
//! `Debug` shows the secret id's prefix only, and no error names it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The metadata service every CVM reaches; tests point elsewhere.
pub(crate) const DEFAULT_METADATA_BASE: &str = "http://metadata.tencentyun.com/latest/meta-data/";
/// Temporary keys are fetched again this long before they expire: a
/// signature is valid for 5 minutes, so keys must outlive the request.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CredentialError {
    #[error("no credentials found (looked in: {0})")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("CVM role credentials: {0}")]
    Metadata(String),
}

/// Where a set of credentials came from, shown in the status view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Env,
    ProfileFile(String),
    Tccli(String),
    CvmRole(String),
    /// Given directly (tests, the simulator).
    Static(String),
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Env => f.write_str("env"),
            CredentialSource::ProfileFile(p) => write!(f, "profile file {p}"),
            CredentialSource::Tccli(p) => write!(f, "tccli profile {p}"),
            CredentialSource::CvmRole(r) => write!(f, "CVM role {r}"),
            CredentialSource::Static(s) => f.write_str(s),
        }
    }
}

/// A secret id, secret key and optional token. The key is readable only
/// through [`Credentials::secret_key`], for the signer.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    secret_id: String,
    secret_key: String,
    token: Option<String>,
    source: CredentialSource,
    expires_at: Option<DateTime<Utc>>,
}

impl Credentials {
    pub fn new(
        secret_id: impl Into<String>,
        secret_key: impl Into<String>,
        token: Option<String>,
        source: CredentialSource,
    ) -> Self {
        Credentials {
            secret_id: secret_id.into(),
            secret_key: secret_key.into(),
            token: token.filter(|t| !t.is_empty()),
            source,
            expires_at: None,
        }
    }

    pub(crate) fn with_expiry(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// For the signer only; never log or display it.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(crate) fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Where they came from, e.g. `env`, `tccli profile default`.
    pub fn source(&self) -> String {
        self.source.to_string()
    }

    /// Whether they expire within `margin` of `now`.
    pub(crate) fn needs_refresh(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        match self.expires_at {
            Some(at) => chrono::Duration::from_std(margin)
                .ok()
                .and_then(|m| at.checked_sub_signed(m))
                .is_none_or(|refresh_at| refresh_at <= now),
            None => false,
        }
    }
}

/// The first characters of a secret id, enough to tell keys apart.
pub(crate) fn redacted_id(id: &str) -> String {
    let prefix: String = id.chars().take(8).collect();
    if prefix.len() < id.len() {
        format!("{prefix}…")
    } else {
        prefix
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &redacted_id(&self.secret_id))
            .field("secret_key", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("source", &self.source.to_string())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What the chain reads, captured once so tests never touch the process
/// environment or the real home directory.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    pub env: HashMap<String, String>,
    pub home: Option<PathBuf>,
    /// tccli profile from the command line; `TCCLI_PROFILE` otherwise.
    pub tccli_profile: Option<String>,
    /// `None` skips the metadata service (off a CVM, and in tests).
    pub metadata_base: Option<String>,
    pub metadata_timeout: Duration,
}

impl ChainOptions {
    /// The process environment and home directory, the real metadata service.
    pub(crate) fn from_process(tccli_profile: Option<String>) -> Self {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TENCENTCLOUD_") || k == "TCCLI_PROFILE")
            .collect();
        ChainOptions {
            env,
            home: directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()),
            tccli_profile,
            metadata_base: Some(DEFAULT_METADATA_BASE.to_string()),
            metadata_timeout: Duration::from_secs(1),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// Reads credentials from the environment variables, if set.
pub(crate) fn from_env(opts: &ChainOptions) -> Result<Option<Credentials>, CredentialError> {
    match (
        opts.var("TENCENTCLOUD_SECRET_ID"),
        opts.var("TENCENTCLOUD_SECRET_KEY"),
    ) {
        (Some(id), Some(key)) => {
            let token = opts
                .var("TENCENTCLOUD_TOKEN")
                .or_else(|| opts.var("TENCENTCLOUD_SECURITY_TOKEN"))
                .map(str::to_string);
            Ok(Some(Credentials::new(
                id,
                key,
                token,
                CredentialSource::Env,
            )))
        }
        (Some(_), None) => Err(CredentialError::Invalid(
            "TENCENTCLOUD_SECRET_ID is set but TENCENTCLOUD_SECRET_KEY is not".into(),
        )),
        (None, Some(_)) => Err(CredentialError::Invalid(
            "TENCENTCLOUD_SECRET_KEY is set but TENCENTCLOUD_SECRET_ID is not".into(),
        )),
        (None, None) => Ok(None),
    }
}

/// `[section]` → key → value of a small INI file, keys lowercased.
pub(crate) fn parse_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        let Some(sec) = &section else { continue };
        // The first `=` or `:` separates, as Python's configparser does.
        if let Some(at) = line.find(['=', ':']) {
            let (k, v) = (&line[..at], &line[at + 1..]);
            out.entry(sec.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

/// Where a JSON document is broken, without quoting it: serde_json's own
/// message may quote a value, and the value may be a key.
fn json_error(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "missing or mistyped field",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// A file holding a secret should be readable by its owner only.
pub(crate) fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} holds a secret key and is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

fn display_path(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// The SDK profile file, `[default]` section.
pub(crate) fn from_profile_file(
    opts: &ChainOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<Credentials>, CredentialError> {
    let path = match opts.var("TENCENTCLOUD_CREDENTIALS_FILE") {
        Some(p) => PathBuf::from(p),
        None => match &opts.home {
            Some(h) => h.join(".tencentcloud").join("credentials"),
            None => return Ok(None),
        },
    };
    let shown = display_path(&path, opts.home.as_deref());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialError::Invalid(format!(
                "cannot read {shown}: {e}"
            )))
        }
    };
    let ini = parse_ini(&text);
    let Some(default) = ini.get("default") else {
        return Ok(None);
    };
    let id = default.get("secret_id").filter(|s| !s.is_empty());
    let key = default.get("secret_key").filter(|s| !s.is_empty());
    match (id, key) {
        (Some(id), Some(key)) => {
            if let Some(w) = permission_warning(&path) {
                tracing::warn!("{w}");
                warnings.push(w);
            }
            let token = default.get("token").cloned();
            Ok(Some(Credentials::new(
                id.clone(),
                key.clone(),
                token,
                CredentialSource::ProfileFile(shown),
            )))
        }
        (None, None) => Ok(None),
        _ => Err(CredentialError::Invalid(format!(
            "{shown}: [default] needs both secret_id and secret_key"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TccliCredential {
    #[serde(default)]
    secret_id: String,
    #[serde(default)]
    secret_key: String,
    #[serde(default)]
    token: Option<String>,
}

/// tccli's `~/.tccli/<profile>.credential`.
pub(crate) fn from_tccli(
    opts: &ChainOptions,
    warnings: &mut Vec<String>,
) -> Result<Option<Credentials>, CredentialError> {
    let profile = opts
        .tccli_profile
        .clone()
        .or_else(|| opts.var("TCCLI_PROFILE").map(str::to_string))
        .unwrap_or_else(|| "default".to_string());
    if profile.contains('/') || profile.contains("..") {
        return Err(CredentialError::Invalid(format!(
            "tccli profile name {profile:?} is not a plain name"
        )));
    }
    let Some(home) = &opts.home else {
        return Ok(None);
    };
    let path = home.join(".tccli").join(format!("{profile}.credential"));
    let shown = display_path(&path, Some(home));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CredentialError::Invalid(format!(
                "cannot read {shown}: {e}"
            )))
        }
    };
    let parsed: TccliCredential = serde_json::from_str(&text).map_err(|e| {
        CredentialError::Invalid(format!("{shown} is not valid JSON: {}", json_error(&e)))
    })?;
    if parsed.secret_id.is_empty() || parsed.secret_key.is_empty() {
        return Err(CredentialError::Invalid(format!(
            "{shown} needs both secretId and secretKey"
        )));
    }
    if let Some(w) = permission_warning(&path) {
        tracing::warn!("{w}");
        warnings.push(w);
    }
    Ok(Some(Credentials::new(
        parsed.secret_id,
        parsed.secret_key,
        parsed.token,
        CredentialSource::Tccli(profile),
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredential {
    #[serde(default)]
    code: Option<String>,
    tmp_secret_id: String,
    tmp_secret_key: String,
    #[serde(default)]
    token: Option<String>,
    expired_time: i64,
}

/// Temporary keys of the CVM's role, from the metadata service.
#[derive(Debug)]
pub(crate) struct CvmRole {
    http: reqwest::Client,
    base: String,
    role: String,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl CvmRole {
    /// Asks the metadata service for the role name; `Ok(None)` when no role
    /// is attached (or this is not a CVM).
    pub(crate) async fn discover(
        base: &str,
        timeout: Duration,
    ) -> Result<Option<CvmRole>, CredentialError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| CredentialError::Metadata(e.to_string()))?;
        let base = if base.ends_with('/') {
            base.to_string()
        } else {
            format!("{base}/")
        };
        let url = format!("{base}cam/security-credentials/");
        let resp = match http.get(&url).send().await {
            Ok(r) => r,
            // Unreachable metadata service: not a CVM, not an error.
            Err(e) => {
                tracing::debug!("metadata service not reachable: {e}");
                return Ok(None);
            }
        };
        if !resp.status().is_success() {
            return Ok(None);
        }
        let body = read_small(resp).await.map_err(CredentialError::Metadata)?;
        let role = body.lines().next().unwrap_or("").trim().to_string();
        if role.is_empty() {
            return Ok(None);
        }
        let r = CvmRole {
            http,
            base,
            role,
            cached: tokio::sync::Mutex::new(None),
        };
        // Fetch once now so a broken role fails the chain, not the first poll.
        r.get().await?;
        Ok(Some(r))
    }

    async fn fetch(&self) -> Result<Credentials, CredentialError> {
        let url = format!("{}cam/security-credentials/{}", self.base, self.role);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| CredentialError::Metadata(format!("role {}: {e}", self.role)))?;
        if !resp.status().is_success() {
            return Err(CredentialError::Metadata(format!(
                "role {}: HTTP {}",
                self.role,
                resp.status()
            )));
        }
        let body = read_small(resp)
            .await
            .map_err(|e| CredentialError::Metadata(format!("role {}: {e}", self.role)))?;
        let rc: RoleCredential = serde_json::from_str(&body).map_err(|e| {
            CredentialError::Metadata(format!(
                "role {}: unexpected answer: {}",
                self.role,
                json_error(&e)
            ))
        })?;
        if let Some(code) = rc.code.as_deref() {
            if code != "Success" {
                return Err(CredentialError::Metadata(format!(
                    "role {}: Code {code}",
                    self.role
                )));
            }
        }
        let expires = DateTime::<Utc>::from_timestamp(rc.expired_time, 0).ok_or_else(|| {
            CredentialError::Metadata(format!("role {}: bad ExpiredTime", self.role))
        })?;
        Ok(Credentials::new(
            rc.tmp_secret_id,
            rc.tmp_secret_key,
            rc.token,
            CredentialSource::CvmRole(self.role.clone()),
        )
        .with_expiry(expires))
    }

    /// The cached keys, fetched again when they expire within [`REFRESH_MARGIN`].
    pub async fn get(&self) -> Result<Credentials, CredentialError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if !c.needs_refresh(Utc::now(), REFRESH_MARGIN) {
                return Ok(c.clone());
            }
        }
        match self.fetch().await {
            Ok(c) => {
                tracing::debug!(role = %self.role, expires = ?c.expires_at(), "CVM role keys fetched");
                *cached = Some(c.clone());
                Ok(c)
            }
            // Keep using keys that are still valid if a refresh fails.
            Err(e) => match cached.as_ref() {
                Some(c) if c.expires_at().is_some_and(|t| t > Utc::now()) => {
                    tracing::warn!("{e}; using the current keys until they expire");
                    Ok(c.clone())
                }
                _ => Err(e),
            },
        }
    }
}

/// Hands out current credentials: fixed ones, or the CVM role's, refreshed.
#[derive(Debug, Clone)]
pub struct CredentialProvider {
    inner: Inner,
    warnings: Vec<String>,
}

#[derive(Debug, Clone)]
enum Inner {
    Fixed(Credentials),
    Role(Arc<CvmRole>),
}

impl CredentialProvider {
    pub fn fixed(c: Credentials) -> Self {
        CredentialProvider {
            inner: Inner::Fixed(c),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn role(r: CvmRole) -> Self {
        CredentialProvider {
            inner: Inner::Role(Arc::new(r)),
            warnings: Vec::new(),
        }
    }

    pub async fn get(&self) -> Result<Credentials, CredentialError> {
        match &self.inner {
            Inner::Fixed(c) => Ok(c.clone()),
            Inner::Role(r) => r.get().await,
        }
    }

    /// Where the credentials come from, for the status view.
    pub fn source(&self) -> String {
        match &self.inner {
            Inner::Fixed(c) => c.source(),
            Inner::Role(r) => CredentialSource::CvmRole(r.role.clone()).to_string(),
        }
    }

    /// Warnings found on the way (files readable by others).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Walks the chain; the first source that has credentials wins.
pub async fn resolve(opts: &ChainOptions) -> Result<CredentialProvider, CredentialError> {
    let mut warnings = Vec::new();
    let found = match from_env(opts)? {
        Some(c) => Some(c),
        None => match from_profile_file(opts, &mut warnings)? {
            Some(c) => Some(c),
            None => from_tccli(opts, &mut warnings)?,
        },
    };
    let mut provider = match found {
        Some(c) => CredentialProvider::fixed(c),
        None => {
            let role = match &opts.metadata_base {
                Some(base) => CvmRole::discover(base, opts.metadata_timeout).await?,
                None => None,
            };
            match role {
                Some(r) => CredentialProvider::role(r),
                None => {
                    return Err(CredentialError::NotFound(
                        "TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, \
                         ~/.tencentcloud/credentials, ~/.tccli/<profile>.credential, \
                         the CVM role"
                            .into(),
                    ))
                }
            }
        }
    };
    provider.warnings = warnings;
    tracing::info!(source = %provider.source(), "cloud credentials found");
    Ok(provider)
}

/// A metadata answer is a few hundred bytes; more than 64 KiB is refused.
async fn read_small(mut resp: reqwest::Response) -> Result<String, String> {
    const LIMIT: usize = 64 << 10;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > LIMIT {
            return Err(format!("the answer is larger than {LIMIT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let c = Credentials::new(
            "AKIDabcdefghijklmnop",
            "very-secret-key-value",
            Some("tok-secret".into()),
            CredentialSource::Env,
        );
        let d = format!("{c:?}");
        assert!(!d.contains("very-secret-key-value"), "{d}");
        assert!(!d.contains("tok-secret"), "{d}");
        assert!(!d.contains("AKIDabcdefghijklmnop"), "{d}");
        assert!(d.contains("AKIDabcd…"), "{d}");
    }

    #[test]
    fn ini_sections_and_comments() {
        let ini = parse_ini(
            "# c\n[default]\nsecret_id = a\nSECRET_KEY=b \ntoken: x=y\n[other]\nsecret_id=z\n",
        );
        assert_eq!(ini["default"]["token"], "x=y");
        assert_eq!(ini["default"]["secret_id"], "a");
        assert_eq!(ini["default"]["secret_key"], "b");
        assert_eq!(ini["other"]["secret_id"], "z");
    }

    #[test]
    fn refresh_margin() {
        let now = Utc::now();
        let c = Credentials::new("a", "b", None, CredentialSource::Env)
            .with_expiry(now + chrono::Duration::seconds(200));
        assert!(c.needs_refresh(now, REFRESH_MARGIN));
        let c = c.with_expiry(now + chrono::Duration::seconds(900));
        assert!(!c.needs_refresh(now, REFRESH_MARGIN));
    }
}
