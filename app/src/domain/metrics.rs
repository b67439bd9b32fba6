//! Every metric Alumia records, by name, and the small helpers that
//! record them. This module only talks to the `metrics` facade: with no
//! recorder installed (no `ALUMIA_METRICS_ADDR`) each call is a no-op;
//! the server installs the Prometheus exporter and serves the text on a
//! listener of its own.
//!
//! Adding a metric: a `pub const` name here (Prometheus style: snake
//! case, a unit suffix such as `_seconds` or `_microunits`, counters end
//! in `_total`), a line in `describe`, a helper the capability calls, and
//! a row in the README's "Metrics" paragraph. Labels must stay few and
//! bounded: a kind, an outcome, a route template — never an org, user,
//! agent or usage id, which would make one series per tenant.
//!
//! Later capabilities add theirs in the same style.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};

/// Histogram: how late a schedule's due time fired (claim time minus due
/// time), in seconds.
pub const SCHEDULE_LAG_SECONDS: &str = "schedule_lag_seconds";
/// Counter: schedule firings ended, by `status` (`succeeded`, `failed`,
/// `skipped`) and `reason` (SPEC §11's, or `none`).
pub const SCHEDULE_FIRINGS_TOTAL: &str = "schedule_firings_total";
/// Schedule lag buckets: on time is well under a second.
pub const SCHEDULE_LAG_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 60.0];

/// Counter: HTTP requests answered, by `method`, `route` (the matched
/// route template, or `unmatched`) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram: time to answer an HTTP request, in seconds; same labels.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Gauge: database pool connections by `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "db_pool_connections";
/// Gauge: the most connections the database pool opens.
pub const DB_POOL_MAX_CONNECTIONS: &str = "db_pool_max_connections";
/// Counter: credits charged by metering, in micro-units, by `source`
/// (`managed`, `byok`, `platform`). BYOK charges add 0.
pub const CREDITS_CHARGED_MICROUNITS_TOTAL: &str = "credits_charged_microunits_total";
/// Counter: charges metering wrote (each usage id once), by `source`.
pub const CREDIT_CHARGES_TOTAL: &str = "credit_charges_total";

/// Counter: agent runs ended, by `status` and `stop_reason` (SPEC §10).
pub const RUNS_TOTAL: &str = "runs_total";
/// Histogram: how long agent runs took, start to end, in seconds, by
/// `status`.
pub const RUN_DURATION_SECONDS: &str = "run_duration_seconds";
/// Counter: model tokens of agent runs, by `direction` (`input`,
/// `output`) and `source` (`managed`, `byok`, `free`).
pub const MODEL_TOKENS_TOTAL: &str = "model_tokens_total";

/// Upper bounds (seconds) of the run-duration buckets: from a one-step
/// answer to a long tool-using run.
pub const RUN_DURATION_BUCKETS: &[f64] = &[0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// The `route` label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) of the request-duration histogram buckets:
/// from a cached page to a slow Stripe call.
pub const HTTP_DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Tells the installed recorder what each metric means (`# HELP`).
pub fn describe() {
    describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered, by method, route template and status");
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route template and status"
    );
    describe_gauge!(DB_POOL_CONNECTIONS, "Database pool connections, by state (idle, in_use)");
    describe_gauge!(DB_POOL_MAX_CONNECTIONS, "The most connections the database pool opens");
    describe_counter!(CREDITS_CHARGED_MICROUNITS_TOTAL, "Credits charged by metering, in micro-units, by source");
    describe_counter!(CREDIT_CHARGES_TOTAL, "Charges written by metering, by source");
    describe_counter!(RUNS_TOTAL, "Agent runs ended, by status and stop reason");
    describe_histogram!(RUN_DURATION_SECONDS, Unit::Seconds, "How long agent runs took, by status");
    describe_counter!(MODEL_TOKENS_TOTAL, "Model tokens of agent runs, by direction and source");
    describe_histogram!(SCHEDULE_LAG_SECONDS, Unit::Seconds, "How late schedules' due times fired");
    describe_counter!(SCHEDULE_FIRINGS_TOTAL, "Schedule firings ended, by status and reason");
}

/// A due time fired `seconds` after it was due.
pub fn schedule_fired(seconds: f64) {
    histogram!(SCHEDULE_LAG_SECONDS).record(seconds.max(0.0));
}

/// A firing ended `status` for `reason` (a name from a fixed set).
pub fn schedule_firing_ended(status: &'static str, reason: &str) {
    let labels = [("status", status.to_string()), ("reason", reason.to_string())];
    counter!(SCHEDULE_FIRINGS_TOTAL, &labels).increment(1);
}

/// One agent run ended, after `seconds`, having used these tokens on a
/// model whose calls are `source` (`managed`, `byok`, `free`). Its
/// credits are counted where metering charges them.
pub fn run_finished(
    status: &'static str,
    stop_reason: &'static str,
    seconds: f64,
    source: &'static str,
    (input_tokens, output_tokens): (i64, i64),
) {
    counter!(RUNS_TOTAL, "status" => status, "stop_reason" => stop_reason).increment(1);
    histogram!(RUN_DURATION_SECONDS, "status" => status).record(seconds);
    let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
    counter!(MODEL_TOKENS_TOTAL, "direction" => "input", "source" => source).increment(tokens(input_tokens));
    counter!(MODEL_TOKENS_TOTAL, "direction" => "output", "source" => source).increment(tokens(output_tokens));
}

/// One answered HTTP request. `route` is a route template, never a raw
/// path.
pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [("method", method.to_string()), ("route", route.to_string()), ("status", status.to_string())];
    counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(seconds);
}

/// The database pool as sampled now.
pub fn db_pool(open: u32, idle: usize, max: u32) {
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(open - idle));
    gauge!(DB_POOL_MAX_CONNECTIONS).set(f64::from(max));
}

/// A charge metering wrote (once per usage id), `micros` credits in
/// micro-units; `source` is `managed`, `byok` or `platform`.
pub fn credits_charged(source: &'static str, micros: i64) {
    counter!(CREDIT_CHARGES_TOTAL, "source" => source).increment(1);
    counter!(CREDITS_CHARGED_MICROUNITS_TOTAL, "source" => source).increment(u64::try_from(micros).unwrap_or(0));
}
