//! The [`Client`]: one connection pool to one Doztra Auth server, and the single place a request
//! is sent, retried under the [`RetryPolicy`] and its answer turned into a value or an [`Error`].

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, from_answer};
use crate::retry::{RetryPolicy, Safety, random, retry_after, retryable_status};

/// A client of one Doztra Auth server. Cheap to clone (the connection pool is shared); make one
/// per process and pass it around.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
}

/// Settings of a [`Client`]: `Client::builder(base_url)...build()`.
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    user_agent: String,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The time limit of one attempt, from sending to the whole answer (default 10 s). A track
    /// that times out is sent again with the same `request_id`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time limit to open a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How safe calls are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `User-Agent` header (default `doztra-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Use this `reqwest::Client` (your own TLS, proxy or timeouts) instead of building one;
    /// `timeout`, `connect_timeout` and `user_agent` are then yours to set on it.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client, or [`Error::Config`] for a base URL that is not `http(s)://host[:port][/prefix]`
    /// (or `https` without the `rustls` feature and without an [`http_client`](Self::http_client)).
    pub fn build(self) -> Result<Client, Error> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "base URL {:?}: must be http:// or https://",
                self.base_url
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(format!(
                "base URL {:?}: no query or fragment",
                self.base_url
            )));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                if url.scheme() == "https" && !cfg!(feature = "rustls") {
                    return Err(Error::Config(
                        "an https base URL needs the `rustls` feature of doztra-client".to_owned(),
                    ));
                }
                let builder = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.connect_timeout)
                    .user_agent(self.user_agent)
                    // Never follow a redirect with a bearer token to somewhere else.
                    .redirect(reqwest::redirect::Policy::none());
                with_tls(builder)?
                    .build()
                    .map_err(|e| Error::Config(format!("HTTP client: {e}")))?
            }
        };
        Ok(Client {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            retry: self.retry,
        })
    }
}

#[cfg(feature = "rustls")]
fn with_tls(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, Error> {
    // A configuration of our own (ring, the webpki roots), so no process-wide rustls provider
    // has to be installed.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(builder.tls_backend_preconfigured(config))
}

#[cfg(not(feature = "rustls"))]
#[allow(clippy::unnecessary_wraps)]
fn with_tls(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, Error> {
    Ok(builder)
}

/// One request as the operations describe it.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub token: Option<&'a str>,
    pub body: Option<Vec<u8>>,
    pub query: Vec<(&'static str, String)>,
    pub safety: Safety,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: impl Into<String>, safety: Safety) -> Self {
        Self {
            method,
            path: path.into(),
            token: None,
            body: None,
            query: Vec::new(),
            safety,
        }
    }

    pub fn bearer(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    /// The JSON body, serialised once so every attempt sends the same bytes.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("cannot serialise the request: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    pub fn query(mut self, name: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value));
        }
        self
    }
}

/// A success answer's status and body.
pub(crate) struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::UnexpectedBody {
            status: self.status.as_u16(),
            message: e.to_string(),
        })
    }
}

enum Attempt {
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    NoAnswer(reqwest::Error),
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8000`, or with a path prefix
    /// `https://auth.example.com/doztra`) with the default settings.
    pub fn new(base_url: impl Into<String>) -> Result<Self, Error> {
        Self::builder(base_url).build()
    }

    /// Settings other than the defaults.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            user_agent: concat!("doztra-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            http: None,
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `call`, retrying as its safety and the policy allow; a 2xx is the [`Answer`].
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer, Error> {
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(&call).await;
            let last = attempt >= self.retry.max_attempts.max(1);
            match outcome {
                Attempt::Answered { status, body, .. } if status.is_success() => {
                    return Ok(Answer { status, body });
                }
                Attempt::Answered {
                    status,
                    retry_after,
                    body,
                } => {
                    let retry = call.safety == Safety::Idempotent && retryable_status(status);
                    if retry
                        && !last
                        && let Some(wait) = self.retry.wait(attempt, retry_after, random())
                    {
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(from_answer(status.as_u16(), &body, retry_after, attempt));
                }
                Attempt::NoAnswer(error) => {
                    let retry = match call.safety {
                        // Nothing reached the server, or the outcome is unknown but a repeat
                        // cannot count twice.
                        Safety::Idempotent => {
                            error.is_connect() || error.is_timeout() || error.is_request()
                        }
                        Safety::ConnectOnly => error.is_connect(),
                    };
                    if retry && !last {
                        tokio::time::sleep(self.retry.backoff(attempt, random())).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Transport {
                        source: error,
                        attempts: attempt,
                    });
                }
            }
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Attempt {
        let url = format!("{}{}", self.base, call.path);
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header(ACCEPT, "application/json");
        if let Some(token) = call.token {
            request = request.bearer_auth(token);
        }
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Attempt::NoAnswer(error),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        match response.bytes().await {
            Ok(body) => Attempt::Answered {
                status,
                retry_after,
                body: body.to_vec(),
            },
            Err(error) => Attempt::NoAnswer(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_kept_without_a_trailing_slash() {
        let ok = |url: &str| Client::new(url).map(|c| c.base_url().to_owned());
        assert_eq!(
            ok("http://127.0.0.1:8000/").ok().as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            ok("http://auth.internal/doztra/").ok().as_deref(),
            Some("http://auth.internal/doztra")
        );
        for bad in [
            "",
            "127.0.0.1:8000",
            "ftp://x",
            "http://h/?q=1",
            "mailto:a@b",
        ] {
            assert!(matches!(Client::new(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[test]
    fn https_needs_the_rustls_feature() {
        let https = Client::new("https://auth.example.com");
        assert_eq!(https.is_ok(), cfg!(feature = "rustls"), "{https:?}");
    }
}
