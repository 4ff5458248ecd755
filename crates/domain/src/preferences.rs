//! User preferences that the domain validates: the UI [`Theme`].

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

/// The UI theme a user prefers. Defaults to [`Theme::Light`].
///
/// ```
/// use doztra_domain::Theme;
///
/// assert_eq!(Theme::parse("dark")?, Theme::Dark);
/// assert_eq!(Theme::default().as_str(), "light");
/// assert!(Theme::parse("blue").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Theme {
    /// `light`, the default.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "light"))]
    Light,
    /// `dark`.
    #[cfg_attr(feature = "serde", serde(rename = "dark"))]
    Dark,
    /// `system`: follow the operating system.
    #[cfg_attr(feature = "serde", serde(rename = "system"))]
    System,
}

impl Theme {
    /// Every theme.
    pub const ALL: [Theme; 3] = [Theme::Light, Theme::Dark, Theme::System];

    /// Parses a wire string (`light`, `dark` or `system`), exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|theme| theme.as_str() == raw)
            .ok_or_else(|| DomainError::InvalidTheme(raw.to_owned()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
            Self::System => "system",
        }
    }
}

impl fmt::Display for Theme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Theme {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn themes_round_trip_their_wire_strings() {
        for theme in Theme::ALL {
            assert_eq!(Theme::parse(theme.as_str()), Ok(theme));
            assert_eq!(theme.to_string().parse(), Ok(theme));
        }
        assert_eq!(Theme::default(), Theme::Light);
    }

    #[test]
    fn unknown_themes_are_rejected() {
        for raw in ["", "Dark", "blue", " light"] {
            let err = Theme::parse(raw).unwrap_err();
            assert_eq!(err, DomainError::InvalidTheme(raw.into()));
            assert_eq!(err.field(), Some("theme"));
        }
    }
}
