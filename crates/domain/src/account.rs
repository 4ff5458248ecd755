//! Account values: the validated [`Email`], [`Password`] and [`UserName`] of a registration or
//! profile update, and the account [`Role`]. Each has one fallible `parse`; once you hold one,
//! it is valid.

use std::fmt;
use std::str::FromStr;

use crate::common_passwords::is_common_password;
use crate::error::DomainError;

/// A plausible email address: one bare address, trimmed and lower-cased.
///
/// `parse` trims surrounding whitespace, lower-cases, and then requires at most 254 characters,
/// exactly one `@`, a local part of 1 to 64 characters, a domain that contains a `.` and has no
/// empty label (so no leading, trailing or doubled dots), no whitespace or control characters
/// anywhere, and none of the mailbox punctuation `< > " ( ) , ; : [ ] \`. That last rule keeps
/// out what a mail library would read as something other than this one address: a display name
/// (`x<probe@evil.io>` is delivered to `probe@evil.io`), a comment, a quoted local part, a
/// group or a list. It does not try to be RFC 5322: the only real proof of an address is a mail
/// that arrives.
///
/// ```
/// use doztra_domain::Email;
///
/// let email = Email::parse("  John.Doe@Example.COM ")?;
/// assert_eq!(email.as_str(), "john.doe@example.com");
/// assert!(Email::parse("john.doe@localhost").is_err());
/// assert!(Email::parse("x<probe@evil.io>").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct Email(String);

impl Email {
    /// The longest accepted address, in characters.
    pub const MAX_CHARS: usize = 254;
    /// The longest accepted local part (before the `@`), in characters.
    pub const MAX_LOCAL_CHARS: usize = 64;
    /// Mailbox punctuation (RFC 5322 "specials" but `@` and `.`): never part of a bare address.
    pub const FORBIDDEN_CHARS: [char; 11] =
        ['<', '>', '"', '(', ')', ',', ';', ':', '[', ']', '\\'];

    /// Parses a raw address; see the type's documentation for the rules.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let email = raw.trim().to_lowercase();
        if email.chars().count() > Self::MAX_CHARS
            || email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || Self::FORBIDDEN_CHARS.contains(&c))
        {
            return Err(DomainError::InvalidEmail);
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(DomainError::InvalidEmail);
        };
        let local_ok = !local.is_empty() && local.chars().count() <= Self::MAX_LOCAL_CHARS;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty());
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(DomainError::InvalidEmail)
        }
    }

    /// The address as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as an owned string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

/// A password that meets the policy: 8 to 128 characters, not on the common-password list.
///
/// Length is counted in characters (not bytes) and the password is **not** trimmed: spaces are
/// part of it. There are no composition rules. A password whose lower-case form is one of a few
/// hundred very common passwords (`password`, `12345678`, `qwertyuiop`, ...) is refused.
///
/// `Debug` prints `Password(***)` and there is no `Display`, so a password does not end up in a
/// log line by accident; [`expose`](Self::expose) is the one deliberate way to read it.
///
/// ```
/// use doztra_domain::{DomainError, Password};
///
/// let password = Password::parse("Password123!")?;
/// assert_eq!(format!("{password:?}"), "Password(***)");
/// assert_eq!(Password::parse("iloveyou"), Err(DomainError::CommonPassword));
/// # Ok::<(), DomainError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The fewest characters a password may have.
    pub const MIN_CHARS: usize = 8;
    /// The most characters a password may have.
    pub const MAX_CHARS: usize = 128;

    /// Checks a raw password against the policy; see the type's documentation.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(DomainError::PasswordTooShort {
                min: Self::MIN_CHARS,
            });
        }
        if chars > Self::MAX_CHARS {
            return Err(DomainError::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        if is_common_password(&raw.to_lowercase()) {
            return Err(DomainError::CommonPassword);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for hashing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
///
/// ```
/// use doztra_domain::UserName;
///
/// assert_eq!(UserName::parse("  John Doe ")?.as_str(), "John Doe");
/// assert!(UserName::parse("   ").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct UserName(String);

impl UserName {
    /// The longest accepted name, in characters (after trimming).
    pub const MAX_CHARS: usize = 100;

    /// Trims and checks a raw name.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(DomainError::InvalidName);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserName {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for UserName {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> Self {
        name.0
    }
}

/// What an account may do: an ordinary `user` or an `admin`.
///
/// Parsing is exact: the wire strings are `user` and `admin`.
///
/// ```
/// use doztra_domain::Role;
///
/// assert_eq!(Role::parse("admin")?, Role::Admin);
/// assert_eq!(Role::User.to_string(), "user");
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    /// An ordinary account (the default).
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "user"))]
    User,
    /// An administrator.
    #[cfg_attr(feature = "serde", serde(rename = "admin"))]
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 2] = [Role::User, Role::Admin];

    /// Parses a wire string (`user` or `admin`).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownRole(raw.to_owned()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Whether this is [`Role::Admin`].
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
