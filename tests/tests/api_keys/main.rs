//! Service API keys, end to end over HTTP on SQLite and PostgreSQL: the admin routes and the
//! command line, the key routes with their scopes and refusals, exactly-once and the quota
//! gate shared with the user's own routes under concurrency, revocation and expiry.

mod admin;
mod concurrency;
mod reporter;
mod routes;
mod support;
