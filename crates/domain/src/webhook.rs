//! What an admin registers an outgoing webhook endpoint with: the [`EventType`]s it receives,
//! its [`WebhookUrl`] and an optional [`EndpointDescription`]. The URL here is its form only;
//! which targets a webhook may reach (`https` unless private targets are allowed, no private
//! address) is the sending side's policy, checked at registration and before every attempt.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::error::DomainError;

/// Every event type an endpoint can receive, in the order lists of them are kept.
///
/// ```
/// use doztra_domain::EventType;
///
/// assert_eq!(EventType::parse("payment.failed")?, EventType::PaymentFailed);
/// let set = EventType::parse_set(&["payment.failed".into(), "usage.limit_reached".into()]);
/// assert_eq!(set, Ok(vec![EventType::UsageLimitReached, EventType::PaymentFailed]));
/// assert!(EventType::parse_set(&[]).is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A usage threshold was crossed.
    UsageThresholdCrossed,
    /// A usage counter reached its limit (100 %).
    UsageLimitReached,
    /// A subscription's plan, status or end changed (the payment provider, an admin, or expiry).
    SubscriptionUpdated,
    /// A payment was declined.
    PaymentFailed,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 4] = [
        EventType::UsageThresholdCrossed,
        EventType::UsageLimitReached,
        EventType::SubscriptionUpdated,
        EventType::PaymentFailed,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UsageThresholdCrossed => "usage.threshold_crossed",
            Self::UsageLimitReached => "usage.limit_reached",
            Self::SubscriptionUpdated => "subscription.updated",
            Self::PaymentFailed => "payment.failed",
        }
    }

    /// Parses a wire name, exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownEventType(raw.to_owned()))
    }

    /// The types an endpoint receives: at least one, each known (every unknown name is
    /// reported), without repeats, in [`ALL`](Self::ALL)'s order.
    pub fn parse_set(raws: &[String]) -> Result<Vec<Self>, Vec<DomainError>> {
        if raws.is_empty() {
            return Err(vec![DomainError::NoEventTypes]);
        }
        let (known, unknown): (Vec<_>, Vec<_>) = raws
            .iter()
            .map(|raw| Self::parse(raw))
            .partition(Result::is_ok);
        if !unknown.is_empty() {
            return Err(unknown.into_iter().filter_map(Result::err).collect());
        }
        let mut set: Vec<Self> = known.into_iter().filter_map(Result::ok).collect();
        set.sort();
        set.dedup();
        Ok(set)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URL does not have the form of an endpoint URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// More than [`WebhookUrl::MAX_CHARS`] characters.
    #[error("The URL must have at most {} characters.", WebhookUrl::MAX_CHARS)]
    TooLong,
    /// Not an absolute URL.
    #[error("The URL cannot be parsed.")]
    Unparsable,
    /// Neither `https` nor `http`.
    #[error("The URL must start with https:// (or http:// where private targets are allowed).")]
    Scheme,
    /// A user name or password in the URL.
    #[error("The URL must not contain a user name or password.")]
    Credentials,
    /// No host.
    #[error("The URL must name a host.")]
    NoHost,
    /// A `#fragment`.
    #[error("The URL must not have a fragment.")]
    Fragment,
}

/// A URL with the form of a webhook endpoint: at most 2048 characters, an absolute `https` or
/// `http` URL naming a host, without credentials or fragment; surrounding spaces trimmed and
/// the URL normalised. Whether it may be reached (`http` and private addresses) is decided
/// where the policy is known.
///
/// ```
/// use doztra_domain::WebhookUrl;
///
/// let url = WebhookUrl::parse(" https://Hooks.Example.com/doztra ")?;
/// assert_eq!(url.as_str(), "https://hooks.example.com/doztra");
/// assert!(url.is_https());
/// assert!(WebhookUrl::parse("ftp://hooks.example.com").is_err());
/// assert!(WebhookUrl::parse("https://user:pw@hooks.example.com").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// The longest URL accepted, in characters.
    pub const MAX_CHARS: usize = 2048;

    /// Checks the form of `raw`; see the type's documentation.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::check(raw).map_err(DomainError::InvalidWebhookUrl)
    }

    /// [`parse`](Self::parse), answering the problem itself.
    pub fn check(raw: &str) -> Result<Self, UrlProblem> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(UrlProblem::TooLong);
        }
        let url = Url::parse(raw.trim()).map_err(|_| UrlProblem::Unparsable)?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(UrlProblem::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlProblem::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlProblem::Fragment);
        }
        if url.host().is_none() {
            return Err(UrlProblem::NoHost);
        }
        Ok(Self(url))
    }

    /// The URL, normalised.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL, for a client that sends to it.
    pub fn into_url(self) -> Url {
        self.0
    }

    /// Whether the scheme is `https` (else it is `http`).
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The host's address when the URL names one directly (`https://10.0.0.7/`), else `None`.
    pub fn ip_literal(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Domain(_) => None,
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        }
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint's description: trimmed, at most 500 characters, no control characters. A blank
/// one is no description.
///
/// ```
/// use doztra_domain::EndpointDescription;
///
/// let d = EndpointDescription::parse("  Billing team ")?.expect("not blank");
/// assert_eq!(d.as_str(), "Billing team");
/// assert_eq!(EndpointDescription::parse("   ")?, None);
/// assert!(EndpointDescription::parse(&"x".repeat(501)).is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDescription(String);

impl EndpointDescription {
    /// The longest description accepted, in characters (after trimming).
    pub const MAX_CHARS: usize = 500;

    /// Trims and checks `raw`; `None` when nothing is left.
    pub fn parse(raw: &str) -> Result<Option<Self>, DomainError> {
        let description = raw.trim();
        if description.is_empty() {
            return Ok(None);
        }
        if description.chars().count() > Self::MAX_CHARS
            || description.chars().any(char::is_control)
        {
            return Err(DomainError::InvalidDescription {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Some(Self(description.to_owned())))
    }

    /// The description as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The description as an owned string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
