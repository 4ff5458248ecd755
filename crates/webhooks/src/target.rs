//! The URL of a webhook endpoint: checked when it is registered and again before every attempt
//! (the policy may have changed since). `https` is required unless private targets are
//! allowed; credentials in the URL and fragments are refused; an IP literal must be an allowed
//! address. Host names are checked when an attempt resolves them (see [`crate::sender`]).

use std::net::IpAddr;

use url::Url;

use crate::address::{self, AddressClass};

/// The longest URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// A URL a webhook may be sent to under the policy it was checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

/// Why a URL cannot be an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("The URL must have at most {MAX_URL_CHARS} characters.")]
    TooLong,
    #[error("The URL cannot be parsed.")]
    Unparsable,
    #[error("The URL must start with https:// (or http:// where private targets are allowed).")]
    Scheme,
    #[error("The URL must use https.")]
    HttpsRequired,
    #[error("The URL must not contain a user name or password.")]
    Credentials,
    #[error("The URL must name a host.")]
    NoHost,
    #[error("The URL must not have a fragment.")]
    Fragment,
    #[error("The URL points at a {0} address, which webhooks may not reach.")]
    AddressNotAllowed(AddressClass),
}

impl EndpointUrl {
    /// Checks `raw` under the policy.
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, UrlError> {
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(raw.trim()).map_err(|_| UrlError::Unparsable)?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            "http" => return Err(UrlError::HttpsRequired),
            _ => return Err(UrlError::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        if let Some(ip) = ip_literal(&url)?
            && !address::is_allowed(ip, allow_private)
        {
            return Err(UrlError::AddressNotAllowed(address::classify(ip)));
        }
        Ok(Self(url))
    }

    /// The URL, normalised.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn url(&self) -> &Url {
        &self.0
    }
}

/// The host's address when the URL names one directly; an error when it names no host.
fn ip_literal(url: &Url) -> Result<Option<IpAddr>, UrlError> {
    match url.host() {
        None => Err(UrlError::NoHost),
        Some(url::Host::Domain(_)) => Ok(None),
        Some(url::Host::Ipv4(v4)) => Ok(Some(IpAddr::V4(v4))),
        Some(url::Host::Ipv6(v6)) => Ok(Some(IpAddr::V6(v6))),
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
        for (raw, error) in [
            ("", UrlError::Unparsable),
            ("hooks.example.com", UrlError::Unparsable),
            ("ftp://hooks.example.com/", UrlError::Scheme),
            ("file:///etc/passwd", UrlError::Scheme),
            ("https://user:pw@hooks.example.com/", UrlError::Credentials),
            ("https://hooks.example.com/#x", UrlError::Fragment),
        ] {
            assert_eq!(EndpointUrl::parse(raw, true), Err(error), "{raw}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(EndpointUrl::parse(&long, true), Err(UrlError::TooLong));
    }
}
