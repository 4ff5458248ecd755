//! Sending one attempt over HTTP. The URL is checked again under the current policy; a host
//! name is resolved by [`GuardedResolver`], which refuses the name when any of its addresses
//! may not be reached, and the connection goes only to the addresses it returned (so DNS
//! rebinding between a check and the connection is impossible). No redirects, no proxies from
//! the environment, a connect and a total timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::address;
use crate::signature::WebhookSecret;
use crate::target::{EndpointUrl, UrlError, UrlProblem};

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

type HttpClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// The HTTP sender (hyper with rustls). It never follows a redirect: a 3xx is an answer like
/// any other non-2xx.
pub struct HttpSender {
    client: HttpClient,
    allow_private: bool,
    timeout: Duration,
}

const USER_AGENT_VALUE: &str = concat!("doztra-webhooks/", env!("CARGO_PKG_VERSION"));

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
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            allow_private: settings.allow_private,
        });
        // The scheme is checked by `EndpointUrl`; the TLS layer handles `https`.
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout.min(Duration::from_secs(5))));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(2)
            .build(https);
        Ok(Self {
            client,
            allow_private: settings.allow_private,
            timeout: settings.timeout,
        })
    }
}

#[async_trait::async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, attempt: Attempt<'_>) -> Result<u16, SendError> {
        let url = EndpointUrl::parse(attempt.url, self.allow_private)
            .map_err(|e: UrlError| SendError::Refused(e.to_string()))?;
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|_| SendError::Refused(UrlProblem::Unparsable.to_string()))?;
        let host = match url.url().port() {
            Some(port) => format!("{}:{port}", url.url().host_str().unwrap_or_default()),
            None => url.url().host_str().unwrap_or_default().to_owned(),
        };
        let signature = attempt
            .secret
            .sign(attempt.message_id, attempt.timestamp, attempt.body);
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(HOST, host)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .header("webhook-id", attempt.message_id)
            .header("webhook-timestamp", attempt.timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::from(attempt.body.to_owned())))
            .map_err(|e| SendError::Other(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Err(SendError::Timeout),
            Ok(Err(error)) => Err(classify_error(&error)),
            // The body is not read: only the status counts, and dropping it ends the exchange.
            Ok(Ok(response)) => Ok(response.status().as_u16()),
        }
    }
}

/// Describes a failed request without its URL (which may carry a token in its query).
fn classify_error(error: &hyper_util::client::legacy::Error) -> SendError {
    let chain = error_chain(error);
    if let Some(refusal) = chain
        .iter()
        .find_map(|text| text.strip_prefix(REFUSED_PREFIX))
    {
        return SendError::Refused(refusal.to_owned());
    }
    let detail = chain.last().cloned().unwrap_or_else(|| error.to_string());
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
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    allow_private: bool,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let refused = |why: String| std::io::Error::other(format!("{REFUSED_PREFIX}{why}"));
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(refused(format!("{host} has no address")));
            }
            if let Some(bad) = addresses
                .iter()
                .find(|a| !address::is_allowed(a.ip(), allow_private))
            {
                tracing::warn!(host = %host, address = %bad.ip(), "webhook host resolves to an address it may not reach");
                return Err(refused(format!(
                    "{host} resolves to {}, a {} address",
                    bad.ip(),
                    address::classify(bad.ip())
                )));
            }
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
#[path = "sender_tests.rs"]
mod tests;
