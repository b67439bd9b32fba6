//! Integration tests: the real server on port 0, driven over HTTP. The
//! whole suite runs on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set (each test gets its own database).

mod accounts;
mod admin;
mod agents;
mod api;
mod api_contract;
mod billing;
mod billing_stripe;
mod byok;
mod canvas;
mod client_ip;
mod fake_provider;
mod fake_s3;
mod fake_stripe;
mod files;
mod members;
mod metrics;
mod models;
mod notifications;
mod orgs;
mod page_cache;
mod peers;
mod providers;
mod schedule_runner;
mod schedules;
mod security_headers;
mod sessions;
mod slow_clients;
mod step_up;
mod support;
