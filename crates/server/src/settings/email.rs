//! The email settings: where links point and how long they live (`APP_BASE_URL`,
//! `EMAIL_VERIFICATION_TTL`, `PASSWORD_RESET_TTL`), the sender (`EMAIL_FROM`), delivery (SMTP
//! when `SMTP_HOST` is set, else the file outbox `EMAIL_OUTBOX_DIR`) and how often the outbox is
//! polled (`EMAIL_POLL_INTERVAL`).

use std::path::PathBuf;
use std::time::Duration;

use mail::{SmtpSecurity, SmtpSettings};
use service::EmailConfig;

use super::{SettingsError, Vars};

/// Where email links point when `APP_BASE_URL` is not set (start-up warns about it: this
/// service serves neither `/verify-email` nor `/reset-password`).
pub const DEFAULT_APP_BASE_URL: &str = "http://localhost:8000";

/// The email flows and how their messages leave.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The web app's address (links, and where the Stripe portal returns) and the links'
    /// lifetimes.
    pub flows: EmailConfig,
    /// `Name <address>` of outgoing mail.
    pub from: String,
    /// Where messages go without SMTP (one `.eml` file each).
    pub outbox_dir: PathBuf,
    /// SMTP delivery, when `SMTP_HOST` is set.
    pub smtp: Option<SmtpSettings>,
    pub poll_interval: Duration,
}

impl EmailSettings {
    pub(super) fn read(vars: &Vars) -> Result<Self, SettingsError> {
        let base_url = vars
            .url("APP_BASE_URL")?
            .unwrap_or_else(|| DEFAULT_APP_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let from = vars.string_or("EMAIL_FROM", "Doztra <no-reply@localhost>");
        mail::parse_mailbox(&from).map_err(|e| SettingsError::new("EMAIL_FROM", e.to_string()))?;
        Ok(Self {
            flows: EmailConfig {
                base_url,
                verification_ttl: vars
                    .duration("EMAIL_VERIFICATION_TTL", Duration::from_secs(48 * 3600))?,
                reset_ttl: vars.duration("PASSWORD_RESET_TTL", Duration::from_secs(3600))?,
                ..EmailConfig::default()
            },
            from,
            outbox_dir: vars.string_or("EMAIL_OUTBOX_DIR", "outbox").into(),
            smtp: read_smtp(vars)?,
            poll_interval: vars.duration("EMAIL_POLL_INTERVAL", Duration::from_secs(5))?,
        })
    }
}

/// `SMTP_HOST` turns SMTP on; the port defaults to 465 with `SMTP_SECURITY=tls`, else 587.
fn read_smtp(vars: &Vars) -> Result<Option<SmtpSettings>, SettingsError> {
    let Some(host) = vars.string("SMTP_HOST") else {
        return Ok(None);
    };
    let securities = [
        ("starttls", SmtpSecurity::StartTls),
        ("tls", SmtpSecurity::Tls),
        ("none", SmtpSecurity::None),
    ];
    let security = vars
        .choice("SMTP_SECURITY", &securities, "starttls, tls or none")?
        .unwrap_or(SmtpSecurity::StartTls);
    let default_port = if security == SmtpSecurity::Tls {
        465
    } else {
        587
    };
    // Half a login would be dropped without a word and every send refused by the server.
    let (username, password) = (vars.string("SMTP_USERNAME"), vars.string("SMTP_PASSWORD"));
    match (&username, &password) {
        (Some(_), None) => {
            return Err(SettingsError::new(
                "SMTP_PASSWORD",
                "is required with SMTP_USERNAME",
            ));
        }
        (None, Some(_)) => {
            return Err(SettingsError::new(
                "SMTP_USERNAME",
                "is required with SMTP_PASSWORD",
            ));
        }
        _ => {}
    }
    Ok(Some(SmtpSettings {
        host,
        port: vars.number("SMTP_PORT", default_port, 1)?,
        security,
        username,
        password,
        timeout: vars.duration("SMTP_TIMEOUT", Duration::from_secs(10))?,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<EmailSettings, SettingsError> {
        EmailSettings::read(&Vars::from_pairs(pairs))
    }

    #[test]
    fn links_point_at_the_app_base_url_without_a_trailing_slash() {
        assert_eq!(read(&[]).unwrap().flows.base_url, DEFAULT_APP_BASE_URL);
        let s = read(&[("APP_BASE_URL", "https://app.example/")]).unwrap();
        assert_eq!(s.flows.base_url, "https://app.example");
        assert_eq!(s.flows.verification_ttl, Duration::from_secs(48 * 3600));
        assert_eq!(s.outbox_dir, PathBuf::from("outbox"));
    }

    #[test]
    fn smtp_is_configured_by_its_host() {
        let s = read(&[]).unwrap();
        assert!(s.smtp.is_none());
        let s = read(&[
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_USERNAME", "mailer"),
            ("SMTP_PASSWORD", "hunter2"),
        ])
        .unwrap();
        let smtp = s.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
        assert!(
            !format!("{smtp:?}").contains("hunter2"),
            "the password never prints"
        );
        let tls = read(&[("SMTP_HOST", "h"), ("SMTP_SECURITY", "tls")]).unwrap();
        assert_eq!(tls.smtp.unwrap().port, 465);
        let err = read(&[("SMTP_HOST", "h"), ("SMTP_SECURITY", "ssl3")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_SECURITY");
        let err = read(&[("SMTP_HOST", "h"), ("SMTP_PORT", "0")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_PORT");
        // Half a login is refused, naming the half that is missing.
        let err = read(&[("SMTP_HOST", "h"), ("SMTP_USERNAME", "mailer")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_PASSWORD");
        let err = read(&[("SMTP_HOST", "h"), ("SMTP_PASSWORD", "hunter2")]).unwrap_err();
        assert_eq!(err.variable, "SMTP_USERNAME");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("EMAIL_FROM", "not an address"),
            ("APP_BASE_URL", "ftp://x"),
            ("EMAIL_VERIFICATION_TTL", "0"),
            ("EMAIL_POLL_INTERVAL", "often"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
