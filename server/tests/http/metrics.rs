//! Prometheus metrics on a listener of their own (`ALUMIA_METRICS_ADDR`):
//! requests by route template and status, the database pool, charges.
//! One recorder serves the whole test process, so these tests assert on
//! series they made and on counts of at least what they did.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use app::domain::billing::metering::{self, Source, Usage};
use app::domain::billing::{self, Deposit, DepositKind, MICROS_PER_CREDIT};

use crate::support::*;

async fn start_with_metrics() -> TestServer {
    let server = start_with(|s| s.metrics_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    assert!(server.metrics.is_some(), "a metrics listener was bound");
    server
}

/// The text at the metrics listener's `/metrics`.
async fn scrape(server: &TestServer) -> String {
    let url = format!("{}/metrics", server.metrics.as_ref().expect("the server has a metrics listener"));
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    res.text().await.unwrap()
}

/// The sum of the samples of `name` whose labels include all of `labels`
/// (`None`: no such series).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series, ""),
        };
        let pairs: Vec<&str> = label_text.split(',').collect();
        if metric == name && labels.iter().all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str())) {
            *sum.get_or_insert(0.0) += value.parse::<f64>().unwrap_or_else(|_| panic!("a number: {line}"));
        }
    }
    sum
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_on_the_metrics_listener() {
    let server = start_with_metrics().await;
    let (mut browser, org, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let created = api.post("/projects", json!({"name": "Metered"})).await;
    let id = data(&created)["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(api.get(&format!("/projects/{id}")).await.status, StatusCode::OK);
    }
    let missing = Uuid::new_v4();
    assert_eq!(api.get(&format!("/projects/{missing}")).await.status, StatusCode::NOT_FOUND);
    let page = browser.page(&format!("/{org}/billing")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(browser.get("/no/such/page").await.status, StatusCode::NOT_FOUND);

    let text = scrape(&server).await;
    let project = "/api/v1/projects/{id}";
    let count = |route: &str, method: &str, status: &str| {
        sample(&text, "http_requests_total", &[("route", route), ("method", method), ("status", status)]).unwrap_or(0.0)
    };
    assert!(count(project, "GET", "200") >= 3.0, "{text}");
    assert!(count(project, "GET", "404") >= 1.0, "{text}");
    assert!(count("/api/v1/projects", "POST", "200") >= 1.0, "{text}");
    assert!(count("/{org}/billing", "GET", "200") >= 1.0, "a page counts under its template: {text}");
    assert!(count("unmatched", "GET", "404") >= 1.0, "{text}");
    assert!(!text.contains(&id) && !text.contains(&missing.to_string()), "raw paths never become labels");
    assert!(!text.contains(&org), "nor org slugs");

    let timed = [("route", project), ("method", "GET"), ("status", "200")];
    assert!(sample(&text, "http_request_duration_seconds_count", &timed).unwrap_or(0.0) >= 3.0, "{text}");
    let within = sample(&text, "http_request_duration_seconds_bucket", &[timed[0], timed[1], timed[2], ("le", "+Inf")]);
    assert!(within.unwrap_or(0.0) >= 3.0, "a histogram with buckets: {text}");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");

    assert!(sample(&text, "db_pool_connections", &[("state", "idle")]).is_some(), "{text}");
    assert!(sample(&text, "db_pool_connections", &[("state", "in_use")]).is_some(), "{text}");
    assert!(sample(&text, "db_pool_max_connections", &[]).unwrap_or(0.0) >= 1.0, "{text}");

    // The dashboard's listener has no metrics (for a visitor or a member
    // of some org); the metrics listener has nothing else.
    let anonymous = Browser::new(&server).get("/metrics").await;
    assert_eq!(anonymous.status, StatusCode::NOT_FOUND, "{:?}", anonymous.location());
    let signed_in = browser.page("/metrics").await;
    assert_eq!(signed_in.status, StatusCode::NOT_FOUND);
    assert!(!signed_in.body.contains("http_requests_total"));
    let metrics_base = server.metrics.as_ref().unwrap();
    let other = reqwest::get(format!("{metrics_base}/api/v1/projects")).await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_the_setting_there_is_no_metrics_listener() {
    let server = start().await;
    assert_eq!(server.metrics, None);
    assert_eq!(Browser::new(&server).get("/metrics").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn launching_twice_in_one_process_shares_one_recorder() {
    let (first, second) = tokio::join!(start_with_metrics(), start_with_metrics());
    assert_ne!(first.metrics, second.metrics);
    assert_eq!(Browser::new(&second).get("/healthz").await.status, StatusCode::OK);
    for server in [&first, &second] {
        let text = scrape(server).await;
        assert!(sample(&text, "http_requests_total", &[("route", "/healthz")]).unwrap_or(0.0) >= 1.0, "{text}");
    }
}

#[tokio::test]
async fn charges_are_counted_once_in_micro_units_by_source() {
    let server = start_with_metrics().await;
    let (_, slug, _) = owner_with_key(&server, &[]).await;
    let org = app::domain::orgs::find_by_slug(&server.ctx, &slug).await.unwrap().unwrap();
    let ctx = &server.ctx;
    let deposit = Deposit {
        org_id: org,
        kind: DepositKind::Purchase,
        source_ref: "pi_metrics",
        micros: 10 * MICROS_PER_CREDIT,
        expires_at: None,
        actor_user_id: None,
        reason: None,
    };
    billing::deposit(ctx, deposit).await.unwrap();
    let platform = [("source", "platform")];
    let before = scrape(&server).await;
    let charges_before = sample(&before, "credit_charges_total", &platform).unwrap_or(0.0);
    let micros_before = sample(&before, "credits_charged_microunits_total", &platform).unwrap_or(0.0);

    let usage = Usage { org_id: org, agent_id: None, source: Source::Platform, micros: 1_500_000 };
    metering::charge(ctx, "metrics-1", &usage).await.unwrap();
    metering::charge(ctx, "metrics-1", &usage).await.unwrap();
    let too_much = Usage { micros: 100 * MICROS_PER_CREDIT, ..usage.clone() };
    metering::charge(ctx, "metrics-2", &too_much).await.unwrap_err();

    let after = scrape(&server).await;
    let charges = sample(&after, "credit_charges_total", &platform).unwrap() - charges_before;
    let micros = sample(&after, "credits_charged_microunits_total", &platform).unwrap() - micros_before;
    // Other tests of this process may charge at the same time.
    assert!(charges >= 1.0 && micros >= 1_500_000.0, "{charges} charges, {micros} micro-units");
    assert!(!after.contains(&org.to_string()), "no org ids in labels");
}

#[tokio::test]
async fn runs_are_counted_with_their_duration_and_tokens() {
    let t = crate::sessions::setup_custom(json!({}), |s| s.metrics_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let session = t.session().await;
    t.fake.push(crate::fake_provider::Scripted::text(&["Hi"]).usage(1200, 34));
    let a = t.say(&session, "hello").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let text = scrape(&t.server).await;
    // Other tests of this process may end runs too: at least this one.
    let completed = [("status", "completed")];
    let at_least = |name: &str, labels: &[(&str, &str)], n: f64| {
        let got = sample(&text, name, labels).unwrap_or(0.0);
        assert!(got >= n, "{name} {labels:?}: {got} < {n}\n{text}");
    };
    at_least("runs_total", &[("status", "completed"), ("stop_reason", "end_turn")], 1.0);
    at_least("run_duration_seconds_count", &completed, 1.0);
    assert!(text.contains("run_duration_seconds_bucket{status=\"completed\",le=\"0.5\"}"), "its buckets");
    at_least("model_tokens_total", &[("direction", "input"), ("source", "managed")], 1200.0);
    at_least("model_tokens_total", &[("direction", "output"), ("source", "managed")], 34.0);
}
