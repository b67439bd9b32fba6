//! `/api/v1/schedules` (SPEC §11): CRUD with the next run in the
//! schedule's zone, edits that compute it again from now, disabled ones
//! without one, the preview, bad expressions and zones as 422 naming the
//! field, nested ids of another org as 404, and the package's cap.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

const MODEL: &str = "ollama/llama3.2:latest";

struct Org {
    api: Api,
    agent: String,
    project: String,
}

async fn org_of(server: &TestServer) -> Org {
    let (_, _, key) = owner_with_key(server, &[]).await;
    let api = Api::new(server, Some(&key));
    let agent = data(&api.post("/agents", json!({ "name": "Reporter", "model": MODEL })).await)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let project = data(&api.post("/projects", json!({ "name": "Reports" })).await)["id"].as_str().unwrap().to_string();
    Org { api, agent, project }
}

async fn setup() -> (TestServer, Org) {
    let url = fake_ollama(json!([{ "name": "llama3.2:latest" }])).await;
    let server = start_with(|s| s.ollama_url = Some(url)).await;
    let org = org_of(&server).await;
    (server, org)
}

fn schedule(org: &Org, cron: &str, timezone: &str) -> Value {
    json!({ "name": "Morning report", "cron": cron, "timezone": timezone, "prompt": "Summarise yesterday.",
            "agentId": org.agent, "projectId": org.project })
}

fn at(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().unwrap_or_else(|| panic!("a time: {value}")).parse().unwrap()
}

#[tokio::test]
async fn a_schedule_is_created_read_patched_and_deleted_with_its_next_run_in_its_zone() {
    let (server, org) = setup().await;
    let created = org.api.post("/schedules", schedule(&org, "0 9 * * 1-5", "Europe/Berlin")).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let s = data(&created);
    assert_eq!(s["description"], "At 09:00 on Monday through Friday, Europe/Berlin");
    assert_eq!((s["enabled"].clone(), s["missedRuns"].clone()), (json!(true), json!("skip")));
    assert_eq!((s["maxDurationSeconds"].clone(), s["lastRun"].clone()), (json!(900), Value::Null));
    let next = at(&s["nextRunAt"]);
    let now = server.ctx.clock.now();
    assert!(next > now && next - now <= Duration::days(4), "{next} after {now}");
    // 09:00 in Berlin: 07:00 or 08:00 UTC, on a weekday.
    let berlin = next.with_timezone(&chrono::FixedOffset::east_opt(0).unwrap());
    assert!(matches!(berlin.format("%H:%M").to_string().as_str(), "07:00" | "08:00"), "{berlin}");
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(data(&org.api.get(&format!("/schedules/{id}")).await)["name"], "Morning report");
    assert_eq!(data(&org.api.get("/schedules").await)["items"][0]["id"], id.as_str());

    // An edit computes the next run again, from now.
    server.ctx.clock.advance(Duration::days(10));
    let patched = org.api.patch(&format!("/schedules/{id}"), json!({ "cron": "@hourly", "timezone": "UTC" })).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let p = data(&patched);
    let now = server.ctx.clock.now();
    let next = at(&p["nextRunAt"]);
    assert!(next > now && next - now <= Duration::hours(1), "{next} after {now}");
    assert_eq!(p["prompt"], "Summarise yesterday.", "absent fields stay");
    // Disabled: no next run; enabled again: one from now.
    let off = data(&org.api.patch(&format!("/schedules/{id}"), json!({ "enabled": false })).await);
    assert_eq!((off["enabled"].clone(), off["nextRunAt"].clone()), (json!(false), Value::Null));
    let on = data(&org.api.patch(&format!("/schedules/{id}"), json!({ "enabled": true })).await);
    assert!(at(&on["nextRunAt"]) > server.ctx.clock.now());

    let deleted = org.api.delete(&format!("/schedules/{id}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(data(&deleted)["nextRunAt"], Value::Null);
    assert_eq!(org.api.get(&format!("/schedules/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(data(&org.api.get("/schedules").await)["items"], json!([]));
}

#[tokio::test]
async fn bad_expressions_zones_and_values_are_422_naming_the_field() {
    let (_server, org) = setup().await;
    for (body, field) in [
        (schedule(&org, "0 9 * *", "UTC"), "cron"),
        (schedule(&org, "61 * * * *", "UTC"), "cron"),
        (schedule(&org, "@sometimes", "UTC"), "cron"),
        (schedule(&org, "0 9 * * *", "Mars/Olympus"), "timezone"),
    ] {
        let res = org.api.post("/schedules", body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert_eq!(res.json()["error"]["details"]["field"], field, "{}", res.body);
    }
    let mut body = schedule(&org, "@daily", "UTC");
    body["missedRuns"] = json!("sometimes");
    let res = org.api.post("/schedules", body).await;
    assert_eq!(res.json()["error"]["details"]["field"], "missedRuns", "{}", res.body);
    let mut body = schedule(&org, "@daily", "UTC");
    body["maxDurationSeconds"] = json!(5);
    let res = org.api.post("/schedules", body).await;
    assert_eq!(res.json()["error"]["details"]["field"], "maxDurationSeconds", "{}", res.body);
    assert_eq!(data(&org.api.get("/schedules").await)["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn the_preview_lists_the_next_times_in_utc_and_in_the_zone() {
    let (_server, org) = setup().await;
    let res = org.api.get("/schedules/preview?cron=30%202%20*%20*%20*&timezone=America/New_York&count=3").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let p = data(&res);
    assert_eq!(p["times"].as_array().unwrap().len(), 3);
    assert_eq!(p["localTimes"].as_array().unwrap().len(), 3);
    assert!(
        p["localTimes"][0].as_str().unwrap().contains(" 02:30 ")
            || p["localTimes"][0].as_str().unwrap().contains(" 03:00 ")
    );
    assert!(p["description"].as_str().unwrap().ends_with(", America/New_York"), "{}", p["description"]);
    let bad = org.api.get("/schedules/preview?cron=nope").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["details"]["field"], "cron");
    let many = org.api.get("/schedules/preview?cron=%40daily&count=500").await;
    assert_eq!(many.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", many.body);
}

#[tokio::test]
async fn another_orgs_schedules_and_nested_ids_are_404() {
    let (server, mine) = setup().await;
    let theirs = org_of(&server).await;
    let id = data(&theirs.api.post("/schedules", schedule(&theirs, "@daily", "UTC")).await)["id"]
        .as_str()
        .unwrap()
        .to_string();
    for res in [
        mine.api.get(&format!("/schedules/{id}")).await,
        mine.api.patch(&format!("/schedules/{id}"), json!({ "enabled": false })).await,
        mine.api.delete(&format!("/schedules/{id}")).await,
    ] {
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    }
    // My schedule naming their agent or project.
    let mut body = schedule(&mine, "@daily", "UTC");
    body["agentId"] = json!(theirs.agent);
    assert_eq!(mine.api.post("/schedules", body).await.status, StatusCode::NOT_FOUND);
    let mut body = schedule(&mine, "@daily", "UTC");
    body["projectId"] = json!(theirs.project);
    assert_eq!(mine.api.post("/schedules", body).await.status, StatusCode::NOT_FOUND);
    let own =
        data(&mine.api.post("/schedules", schedule(&mine, "@daily", "UTC")).await)["id"].as_str().unwrap().to_string();
    let res = mine.api.patch(&format!("/schedules/{own}"), json!({ "agentId": theirs.agent })).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert_eq!(data(&theirs.api.get(&format!("/schedules/{id}")).await)["enabled"], true, "theirs untouched");
}

#[tokio::test]
async fn the_package_caps_live_schedules() {
    // The test catalogue's default package allows 2 schedules.
    let (_server, org) = setup().await;
    for _ in 0..2 {
        assert_eq!(org.api.post("/schedules", schedule(&org, "@daily", "UTC")).await.status, StatusCode::OK);
    }
    let blocked = org.api.post("/schedules", schedule(&org, "@daily", "UTC")).await;
    assert_eq!(blocked.status, StatusCode::PAYMENT_REQUIRED, "{}", blocked.body);
    assert_eq!(blocked.json()["error"]["details"]["reason"], "package_blocks");
    // A deleted one frees its place.
    let first = data(&org.api.get("/schedules").await)["items"][0]["id"].as_str().unwrap().to_string();
    org.api.delete(&format!("/schedules/{first}")).await;
    assert_eq!(org.api.post("/schedules", schedule(&org, "@daily", "UTC")).await.status, StatusCode::OK);
}
