//! Sending one attempt over HTTP. The URL is checked again under the current policy; a host
//! name is resolved by [`GuardedResolver`], which refuses the name when any of its addresses
//! may not be reached, and the connection goes only to the addresses it returned (so DNS
//! rebinding between a check and the connection is impossible). No redirects, no proxies from
//! the environment, a connect and a total timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};

use crate::address;
use crate::signature::WebhookSecret;
use crate::target::{EndpointUrl, UrlError};

/// One attempt to send.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub url: &'a str,
    /// The `webhook-id`: the same on every attempt of a message.
    pub message_id: &'a str,
    /// The `webhook-timestamp` (unix seconds): the time of this attempt.
    pub timestamp: i64,
    /// The JSON body, byte for byte what was stored.
    pub body: &'a str,
    pub secret: &'a WebhookSecret,
}

/// Why an attempt got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The target may not be reached (its URL or an address it resolves to); nothing was sent.
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl SendError {
    /// Whether nothing was sent because the target may not be reached.
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

/// Sends webhook attempts; the service holds one as `Arc<dyn WebhookSender>`.
#[async_trait::async_trait]
pub trait WebhookSender: Send + Sync {
    /// Sends one attempt and returns the HTTP status of the answer (any status: the caller
    /// decides that only 2xx is a success).
    async fn send(&self, attempt: Attempt<'_>) -> Result<u16, SendError>;
}

/// How the HTTP sender behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderSettings {
    /// Reach loopback, private, link-local and other non-public addresses (and plain http).
    pub allow_private: bool,
    /// The whole attempt's limit (connect, send, first answer).
    pub timeout: Duration,
}

/// The HTTP sender (reqwest with rustls).
pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpSender {
    /// Builds the client.
    pub fn new(settings: SenderSettings) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("doztra-webhooks/", env!("CARGO_PKG_VERSION"))),
        );
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.allow_private,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .timeout(settings.timeout)
            .pool_max_idle_per_host(2)
            .default_headers(headers)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            allow_private: settings.allow_private,
        })
    }
}

#[async_trait::async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, attempt: Attempt<'_>) -> Result<u16, SendError> {
        let url = EndpointUrl::parse(attempt.url, self.allow_private)
            .map_err(|e: UrlError| SendError::Refused(e.to_string()))?;
        let signature = attempt
            .secret
            .sign(attempt.message_id, attempt.timestamp, attempt.body);
        let response = self
            .client
            .post(url.url().clone())
            .header("webhook-id", attempt.message_id)
            .header("webhook-timestamp", attempt.timestamp.to_string())
            .header("webhook-signature", signature)
            .body(attempt.body.to_owned())
            .send()
            .await
            .map_err(classify_error)?;
        Ok(response.status().as_u16())
    }
}

/// Describes a failed request without its URL (which may carry a token in its query).
fn classify_error(error: reqwest::Error) -> SendError {
    let chain = error_chain(&error);
    if let Some(refusal) = chain
        .iter()
        .find_map(|text| text.strip_prefix(REFUSED_PREFIX))
    {
        return SendError::Refused(refusal.to_owned());
    }
    if error.is_timeout() {
        return SendError::Timeout;
    }
    let detail = chain
        .last()
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned());
    if error.is_connect() {
        SendError::Connect(detail)
    } else {
        SendError::Other(detail)
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    chain
}

const REFUSED_PREFIX: &str = "webhook target refused: ";

/// The DNS resolver of the sender: the system's resolution (through Tokio), then every
/// address is checked; one address that may not be reached refuses the whole name.
struct GuardedResolver {
    allow_private: bool,
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{REFUSED_PREFIX}{}", self.0)
    }
}

impl std::error::Error for Refused {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(Box::new(Refused(format!("{host} has no address"))) as _);
            }
            if let Some(bad) = addresses
                .iter()
                .find(|a| !address::is_allowed(a.ip(), allow_private))
            {
                tracing::warn!(host = %host, address = %bad.ip(), "webhook host resolves to an address it may not reach");
                return Err(Box::new(Refused(format!(
                    "{host} resolves to {}, a {} address",
                    bad.ip(),
                    address::classify(bad.ip())
                ))) as _);
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[path = "sender_tests.rs"]
mod tests;
