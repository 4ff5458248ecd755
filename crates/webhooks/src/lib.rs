#![doc = include_str!("../README.md")]

pub mod address;
pub mod sender;
pub mod signature;
pub mod target;

pub use address::{AddressClass, classify, is_allowed};
pub use sender::{Attempt, HttpSender, SendError, SenderSettings, WebhookSender};
pub use signature::{SecretError, WebhookSecret};
pub use target::{EndpointUrl, UrlError, UrlProblem};
