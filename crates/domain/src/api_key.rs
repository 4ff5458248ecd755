//! What a service API key may do: its [`ApiKeyScope`]s. A key acts for users on the routes its
//! scopes name and on nothing else.

use std::fmt;

use crate::error::DomainError;

/// One permission of a service API key.
///
/// ```
/// use doztra_domain::ApiKeyScope;
///
/// assert_eq!(ApiKeyScope::parse("usage:write")?, ApiKeyScope::UsageWrite);
/// assert_eq!(ApiKeyScope::UsersRead.as_str(), "users:read");
/// assert!(ApiKeyScope::parse("admin").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiKeyScope {
    /// `usage:write`: track and check usage for a user.
    UsageWrite,
    /// `usage:read`: read a user's statistics, history and counters.
    UsageRead,
    /// `users:read`: look a user up by id or email.
    UsersRead,
}

impl ApiKeyScope {
    /// Every scope, in wire order.
    pub const ALL: [ApiKeyScope; 3] = [Self::UsageWrite, Self::UsageRead, Self::UsersRead];

    /// Parses a wire string exactly (`usage:write`, `usage:read`, `users:read`).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownScope(raw.to_owned()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UsageWrite => "usage:write",
            Self::UsageRead => "usage:read",
            Self::UsersRead => "users:read",
        }
    }

    /// Parses a list: at least one scope, each known; repeats count once; sorted.
    ///
    /// ```
    /// use doztra_domain::ApiKeyScope;
    ///
    /// let scopes = ApiKeyScope::parse_set(["users:read", "usage:write", "users:read"])?;
    /// assert_eq!(scopes, vec![ApiKeyScope::UsageWrite, ApiKeyScope::UsersRead]);
    /// assert!(ApiKeyScope::parse_set(Vec::<&str>::new()).is_err());
    /// # Ok::<(), doztra_domain::DomainError>(())
    /// ```
    pub fn parse_set<S: AsRef<str>>(
        raw: impl IntoIterator<Item = S>,
    ) -> Result<Vec<Self>, DomainError> {
        let mut scopes = Vec::new();
        for item in raw {
            let scope = Self::parse(item.as_ref())?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(DomainError::UnknownScope(String::new()));
        }
        scopes.sort();
        Ok(scopes)
    }
}

impl fmt::Display for ApiKeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
