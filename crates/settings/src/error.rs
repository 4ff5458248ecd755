//! The one error of reading settings: which variable, and what is wrong with its value.

/// A setting that could not be used; `variable` names the environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

impl SettingsError {
    /// `variable` cannot be used because of `problem` (a sentence fragment that follows the
    /// variable's name, such as "must be at least 1").
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }

    /// `variable` is unset but needed; `when` ends the message, as in "is required when
    /// STRIPE_SECRET_KEY is set".
    pub fn missing(variable: &'static str, when: &str) -> Self {
        Self::new(variable, format!("is required {when}"))
    }
}
