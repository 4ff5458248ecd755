//! The URL of a webhook endpoint under the target policy: checked when it is registered and
//! again before every attempt (the policy may have changed since). Its form (an absolute
//! `https` or `http` URL naming a host, no credentials or fragment) is `domain::WebhookUrl`'s;
//! the policy adds that `https` is required unless private targets are allowed and that an IP
//! literal must be an allowed address. Host names are checked when an attempt resolves them
//! (see [`crate::sender`]).

pub use domain::UrlProblem;
use domain::WebhookUrl;
use url::Url;

use crate::address::{self, AddressClass};

/// The longest URL accepted.
pub const MAX_URL_CHARS: usize = WebhookUrl::MAX_CHARS;

/// A URL a webhook may be sent to under the policy it was checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

/// Why a URL cannot be an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not of the form of an endpoint URL.
    #[error(transparent)]
    Form(#[from] UrlProblem),
    #[error("The URL must use https.")]
    HttpsRequired,
    #[error("The URL points at a {0} address, which webhooks may not reach.")]
    AddressNotAllowed(AddressClass),
}

impl EndpointUrl {
    /// Checks `raw`, form and policy.
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, UrlError> {
        Self::allowed(WebhookUrl::check(raw)?, allow_private)
    }

    /// Checks a URL of the right form against the policy.
    pub fn allowed(url: WebhookUrl, allow_private: bool) -> Result<Self, UrlError> {
        if !url.is_https() && !allow_private {
            return Err(UrlError::HttpsRequired);
        }
        if let Some(ip) = url.ip_literal()
            && !address::is_allowed(ip, allow_private)
        {
            return Err(UrlError::AddressNotAllowed(address::classify(ip)));
        }
        Ok(Self(url.into_url()))
    }

    /// The URL, normalised.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn url(&self) -> &Url {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_to_names_and_public_addresses_are_accepted() {
        for raw in [
            "https://hooks.example.com/doztra",
            "https://hooks.example.com:8443/a?b=c",
            "https://1.1.1.1/hook",
            "https://[2606:4700:4700::1111]/hook",
            "https://localhost/hook",
        ] {
            assert!(EndpointUrl::parse(raw, false).is_ok(), "{raw}");
        }
    }

    #[test]
    fn http_needs_private_targets_to_be_allowed() {
        assert_eq!(
            EndpointUrl::parse("http://hooks.example.com/", false),
            Err(UrlError::HttpsRequired)
        );
        assert!(EndpointUrl::parse("http://hooks.example.com/", true).is_ok());
        assert!(EndpointUrl::parse("http://127.0.0.1:9/", true).is_ok());
    }

    #[test]
    fn private_ip_literals_are_refused_unless_allowed() {
        for (raw, class) in [
            ("https://127.0.0.1/", AddressClass::Loopback),
            ("https://[::1]/", AddressClass::Loopback),
            ("https://10.0.0.8/", AddressClass::Private),
            (
                "https://169.254.169.254/latest/meta-data",
                AddressClass::LinkLocal,
            ),
            ("https://0.0.0.0/", AddressClass::Unspecified),
            ("https://[::ffff:127.0.0.1]/", AddressClass::Loopback),
            ("https://2130706433/", AddressClass::Loopback),
            ("https://0x7f.1/", AddressClass::Loopback),
        ] {
            assert_eq!(
                EndpointUrl::parse(raw, false),
                Err(UrlError::AddressNotAllowed(class)),
                "{raw}"
            );
            assert!(EndpointUrl::parse(raw, true).is_ok(), "{raw}");
        }
    }

    #[test]
    fn malformed_urls_are_refused() {
        for (raw, problem) in [
            ("", UrlProblem::Unparsable),
            ("hooks.example.com", UrlProblem::Unparsable),
            ("ftp://hooks.example.com/", UrlProblem::Scheme),
            ("file:///etc/passwd", UrlProblem::Scheme),
            (
                "https://user:pw@hooks.example.com/",
                UrlProblem::Credentials,
            ),
            ("https://hooks.example.com/#x", UrlProblem::Fragment),
        ] {
            assert_eq!(
                EndpointUrl::parse(raw, true),
                Err(UrlError::Form(problem)),
                "{raw}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(
            EndpointUrl::parse(&long, true),
            Err(UrlError::Form(UrlProblem::TooLong))
        );
    }
}
