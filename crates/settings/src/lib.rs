#![doc = include_str!("../README.md")]

mod error;
mod secret;
mod vars;

pub use error::SettingsError;
pub use secret::SecretString;
pub use vars::Vars;
