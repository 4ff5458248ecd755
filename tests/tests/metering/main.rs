//! Token metering, end to end over HTTP on SQLite and PostgreSQL: tracking, quotas,
//! exactly-once, the check endpoint, statistics, history, the admin report, and the counters
//! staying equal to the events under concurrency. One test binary; a module per feature.

mod admin_report;
mod agreement;
mod batching;
mod concurrency;
mod quota;
mod reads;
mod reservations;
mod support;
mod track;
