//! Wire types of token metering and usage statistics (docs/API.md, "Token metering").
//! One file per group of routes: what a backend reports and asks (`track`), the caller's
//! reads (`reads`) and the admin report (`admin_report`).

mod admin_report;
mod reads;
mod track;

pub use admin_report::*;
pub use reads::*;
pub use track::*;
