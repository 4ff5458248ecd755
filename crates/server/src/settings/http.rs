//! The HTTP server's settings: where it listens (`HOST`, `PORT`), who may call it
//! (`CORS_ORIGINS`, `TRUSTED_PROXIES`, `METRICS_TOKEN`), what it accepts and sends
//! (`BODY_LIMIT`, `HSTS_MAX_AGE`) and how it stops (`SHUTDOWN_TIMEOUT`).

use std::time::Duration;

use api::client_address::TrustedProxies;
use api::metrics::MetricsToken;

use super::{SettingsError, Vars};

/// The listener and the middleware around the application.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    pub cors_origins: Vec<String>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Proxies whose `X-Forwarded-For`/`Forwarded` headers name the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// `Strict-Transport-Security: max-age=` this many seconds on every response; 0 sends none.
    pub hsts_max_age: u64,
    /// When set, `/metrics` requires `Authorization: Bearer <METRICS_TOKEN>`.
    pub metrics_token: Option<MetricsToken>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

impl HttpSettings {
    pub(super) fn read(vars: &Vars) -> Result<Self, SettingsError> {
        if vars.string("TRUST_PROXY_HEADERS").is_some() {
            // The flag believed the client-written left-most entry. Ignoring it silently would
            // count every client behind the proxy as the proxy: refuse, and say what replaces it.
            return Err(SettingsError::new(
                "TRUST_PROXY_HEADERS",
                "was replaced by TRUSTED_PROXIES: remove it and list your proxies' networks \
                 instead, e.g. TRUSTED_PROXIES=10.0.0.0/8 (empty: forwarded headers are ignored)",
            ));
        }
        Ok(Self {
            host: vars.string_or("HOST", "127.0.0.1"),
            port: vars.number("PORT", 8000u16, 0)?,
            cors_origins: vars.list("CORS_ORIGINS"),
            body_limit: vars.number("BODY_LIMIT", 65_536usize, 1024)?,
            trusted_proxies: vars
                .parse("TRUSTED_PROXIES", TrustedProxies::parse)?
                .unwrap_or_default(),
            hsts_max_age: vars.number("HSTS_MAX_AGE", 0u64, 0)?,
            metrics_token: vars.parse("METRICS_TOKEN", MetricsToken::new)?,
            shutdown_timeout: vars.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(30))?,
        })
    }

    /// The address to bind.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<HttpSettings, SettingsError> {
        HttpSettings::read(&Vars::from_pairs(pairs))
    }

    #[test]
    fn defaults_listen_on_loopback_port_8000() {
        let s = read(&[]).unwrap();
        assert_eq!(s.address(), "127.0.0.1:8000");
        assert!(s.cors_origins.is_empty());
        assert_eq!(s.body_limit, 65_536);
        assert_eq!(s.hsts_max_age, 0);
        assert!(s.metrics_token.is_none());
        let s = read(&[("CORS_ORIGINS", " https://a.example, ,https://b.example ")]).unwrap();
        assert_eq!(s.cors_origins, ["https://a.example", "https://b.example"]);
    }

    #[test]
    fn the_old_proxy_flag_refuses_to_start_and_names_its_replacement() {
        for value in ["true", "false"] {
            let err = read(&[("TRUST_PROXY_HEADERS", value)]).unwrap_err();
            assert_eq!(err.variable, "TRUST_PROXY_HEADERS");
            assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
        }
        let s = read(&[("TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8,::1")]).unwrap();
        assert!(!s.trusted_proxies.is_empty());
        assert!(read(&[]).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("BODY_LIMIT", "1023"),
            ("HSTS_MAX_AGE", "a year"),
            ("METRICS_TOKEN", "short"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
            ("SHUTDOWN_TIMEOUT", "0"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
