//! Outgoing email. The service layer sees only [`Mailer`]; two implementations exist:
//! [`SmtpMailer`] (lettre over SMTP with STARTTLS, implicit TLS or, for local sinks, plain) and
//! [`FileOutbox`] (one `.eml` file per message, for development and tests). Message bodies can
//! carry secrets (verification and reset links), so nothing here logs them.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    /// Plain text; may contain a secret link.
    pub body: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message itself is unusable (bad address); retrying will not help.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// Delivery failed; a retry may succeed.
    #[error("delivery failed: {0}")]
    Delivery(String),
}

impl MailError {
    /// Whether a retry can succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Invalid(_))
    }
}

/// Sends email.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// Builds the RFC 5322 message both transports send. The text part is 7bit, so links stay on
/// one line in the raw message.
pub fn build_message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| MailError::Invalid(format!("recipient: {e}")))?;
    let body = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(text_body(&email.body));
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .singlepart(body)
        .map_err(|e| MailError::Invalid(e.to_string()))
}

/// The text as a MIME body that keeps every line (and so every link) intact: 7bit for ASCII,
/// 8bit for other UTF-8, CRLF line ends. Both are valid while no line exceeds RFC 5322's 998
/// octets (lettre's chooser would switch to quoted-printable above 76, splitting long links);
/// anything longer falls back to lettre's own choice.
fn text_body(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let lines_fit = crlf
        .split("\r\n")
        .all(|line| line.len() <= 998 && !line.contains('\r'));
    if !lines_fit {
        return Body::new(crlf);
    }
    let encoding = if crlf.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}

/// Writes each message as an `.eml` file into a folder.
pub struct FileOutbox {
    dir: PathBuf,
    from: Mailbox,
}

impl FileOutbox {
    pub fn new(dir: PathBuf, from: Mailbox) -> Self {
        Self { dir, from }
    }
}

#[async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build_message(&self.from, email)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError::Delivery(format!("outbox folder: {e}")))?;
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::now_v7()
        );
        // Write then rename, so a reader never sees half a message.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, message.formatted())
            .await
            .map_err(|e| MailError::Delivery(format!("outbox write: {e}")))?;
        tokio::fs::rename(&tmp, self.dir.join(&name))
            .await
            .map_err(|e| MailError::Delivery(format!("outbox rename: {e}")))?;
        Ok(())
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a local relay or test sink.
    None,
}

/// SMTP settings.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings, from: Mailbox) -> Result<Self, MailError> {
        let builder = match settings.security {
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|e| MailError::Invalid(format!("smtp relay: {e}")))?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| MailError::Invalid(format!("smtp relay: {e}")))?,
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let (Some(user), Some(pass)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build_message(&self.from, email)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| smtp_failure(&e))
    }
}

/// What a failed SMTP send means for its message. Only a refusal of the recipient's address or
/// mailbox is final for that message: a 5xx whose enhanced status (RFC 3463) is `5.1.x` (a bad
/// address) or `5.2.x` (the mailbox). Any other refusal, 5xx included, is about our setup or
/// the server (535 a wrong password, 530 a login it wants, `5.7.x` a sender or relay it refuses,
/// whatever the basic code) and passes once that is fixed, so the message is kept and retried;
/// so is a refusal without an enhanced status, which cannot tell. The server's reply text is
/// left out: it often quotes the recipient's address, and the error is logged and stored with
/// the message.
fn smtp_failure(e: &lettre::transport::smtp::Error) -> MailError {
    let Some(code) = e.status() else {
        return MailError::Delivery(e.to_string());
    };
    let reply = e.to_string();
    match enhanced_status(&reply) {
        Some(status)
            if e.is_permanent() && (status.starts_with("5.1.") || status.starts_with("5.2.")) =>
        {
            MailError::Invalid(format!(
                "the SMTP server refused the recipient ({code} {status})"
            ))
        }
        Some(status) => MailError::Delivery(format!("the SMTP server answered {code} {status}")),
        None => MailError::Delivery(format!("the SMTP server answered {code}")),
    }
}

/// The first enhanced status code (`class.subject.detail`, e.g. `5.1.1`) in an SMTP reply.
fn enhanced_status(reply: &str) -> Option<&str> {
    reply
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ':' || c == ',')
        .find(|token| {
            let parts: Vec<&str> = token.split('.').collect();
            matches!(parts.as_slice(), [class, subject, detail]
                if ["2", "4", "5"].contains(class)
                    && (1..=3).contains(&subject.len())
                    && (1..=3).contains(&detail.len())
                    && subject.chars().chain(detail.chars()).all(|c| c.is_ascii_digit()))
        })
}

/// Parses `Name <address>` or a bare address.
pub fn parse_mailbox(raw: &str) -> Result<Mailbox, MailError> {
    raw.parse()
        .map_err(|e| MailError::Invalid(format!("{raw}: {e}")))
}

#[cfg(test)]
mod smtp_replies {
    use super::enhanced_status;

    #[test]
    fn the_enhanced_status_is_found_in_a_reply() {
        assert_eq!(
            enhanced_status("permanent error (550): 5.1.1 <a@b.c>: Recipient address rejected"),
            Some("5.1.1")
        );
        assert_eq!(
            enhanced_status("553 5.7.1 <x@y.z>: Sender address rejected: not owned by user"),
            Some("5.7.1")
        );
        assert_eq!(enhanced_status("550 Unable to relay for 10.0.0.1"), None);
        assert_eq!(enhanced_status("535 Authentication failed"), None);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn email(body: &str) -> Email {
        Email {
            to: "a@example.com".into(),
            subject: "Hi".into(),
            body: body.into(),
        }
    }

    #[test]
    fn links_stay_on_one_line_in_ascii_and_unicode_messages() {
        let from = parse_mailbox("Doztra <no-reply@example.com>").unwrap();
        let link = format!(
            "https://app.example.com/verify-email?token={}",
            "x".repeat(43)
        );
        for greeting in ["Hello Ann", "Hello Zoë 🌍"] {
            let raw = build_message(&from, &email(&format!("{greeting},\n\n{link}\n")))
                .unwrap()
                .formatted();
            let raw = String::from_utf8(raw).unwrap();
            assert!(raw.contains(&link), "{raw}");
            assert!(raw.contains(greeting), "{raw}");
        }
    }

    #[test]
    fn a_bad_recipient_is_a_permanent_error() {
        let from = parse_mailbox("no-reply@example.com").unwrap();
        let mut bad = email("x");
        bad.to = "not an address".into();
        let err = build_message(&from, &bad).unwrap_err();
        assert!(err.is_permanent());
    }
}
