//! The composition root of Doztra Auth: settings read from the environment, start-up (the
//! database pool and migrations, Stripe, the mailer, the webhook sender, the background
//! workers) and the `doztra-auth` binary. The HTTP application itself is `api`'s; this crate
//! is the only one that knows every other.

pub mod healthcheck;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
