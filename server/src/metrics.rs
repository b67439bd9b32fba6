//! Prometheus metrics: the exporter behind the `metrics` facade, the
//! request middleware, and the listener of its own that serves
//! `GET /metrics` when `ALUMIA_METRICS_ADDR` is set. The metric names
//! live in `app::domain::metrics`, where the domain records its own.
//!
//! The recorder is process-wide (the `metrics` facade has one global
//! recorder): it is installed by the first launch that asks for metrics
//! and reused by every later one, so a process that launches the server
//! several times (the tests) shares one set of metrics.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, Method};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use app::db::Db;
use app::domain::metrics as names;

/// How often the pool is sampled and the exporter's upkeep runs.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's recorder, installed on first use.
fn recorder() -> anyhow::Result<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::HTTP_REQUEST_DURATION_SECONDS.to_string()),
                    names::HTTP_DURATION_BUCKETS,
                )
                .map_err(|e| format!("metrics buckets: {e}"))?
                .set_buckets_for_metric(
                    Matcher::Full(names::RUN_DURATION_SECONDS.to_string()),
                    names::RUN_DURATION_BUCKETS,
                )
                .map_err(|e| format!("metrics buckets: {e}"))?
                .set_buckets_for_metric(
                    Matcher::Full(names::SCHEDULE_LAG_SECONDS.to_string()),
                    names::SCHEDULE_LAG_BUCKETS,
                )
                .map_err(|e| format!("metrics buckets: {e}"))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map_err(|_| "another metrics recorder is installed in this process".to_string())?;
            names::describe();
            Ok(handle)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The metrics listener, bound and not yet serving.
pub struct Listener {
    listener: TcpListener,
    handle: PrometheusHandle,
}

impl Listener {
    /// Installs the recorder (once per process) and binds `addr`.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Listener> {
        let handle = recorder()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr} (ALUMIA_METRICS_ADDR): {e}"))?;
        Ok(Listener { listener, handle })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` (and nothing else) until `stop` resolves,
    /// sampling `db`'s pool and running the exporter's upkeep meanwhile.
    pub async fn serve(
        self,
        db: Db,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stopped, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(upkeep(db.clone(), self.handle.clone(), stop_rx));
        let router = Router::new().route("/metrics", get(render)).with_state(Scrape { db, handle: self.handle });
        let served = axum::serve(self.listener, router).with_graceful_shutdown(stop).await;
        let _ = stopped.send(true);
        served
    }
}

#[derive(Clone)]
struct Scrape {
    db: Db,
    handle: PrometheusHandle,
}

/// The metrics as Prometheus text, the pool sampled just before.
async fn render(State(scrape): State<Scrape>) -> impl IntoResponse {
    sample_pool(&scrape.db);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], scrape.handle.render())
}

/// Every few seconds until `stop` turns true: samples the pool and runs
/// the exporter's upkeep (which drains histograms into their buckets).
async fn upkeep(db: Db, handle: PrometheusHandle, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                sample_pool(&db);
                handle.run_upkeep();
            }
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

fn sample_pool(db: &Db) {
    let (open, idle, max) = match db {
        Db::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        Db::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
    };
    names::db_pool(open, idle, max);
}

/// Counts and times each request by its route template (`MatchedPath`,
/// which axum sets before a route's layers run), method and status.
/// Requests no route matched count as `route="unmatched"`. The time is
/// to the response head: pages render whole before it (`SsrMode::Async`).
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    names::http_request(
        method,
        route.as_deref().unwrap_or(names::UNMATCHED_ROUTE),
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// The standard methods by name; any other (HTTP allows extension
/// methods) is `other`, so clients cannot make new series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"PURGE").unwrap()), "other");
    }
}
