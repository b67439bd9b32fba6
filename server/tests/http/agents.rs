//! `/api/v1/agents`: CRUD with partial PATCH and soft delete, the model
//! checked against the org's catalogue, restriction fields for stepped-up
//! browsers only, and the package's `max_agents` held under concurrent
//! creates. Models come from a stand-in Ollama (0 credits, any package).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use app::domain::billing::plans;
use app::domain::orgs;

use crate::support::*;

const MODEL: &str = "ollama/llama3.2:latest";

/// A server with models, and an owner (stepped-up browser) of an org on
/// the `pro` package (25 agents) with a key.
async fn setup() -> (TestServer, Browser, String, Api) {
    let url = fake_ollama(json!([{ "name": "llama3.2:latest" }, { "name": "qwen2.5:7b" }])).await;
    let server = start_with(|s| s.ollama_url = Some(url)).await;
    let (b, org, key) = owner_with_key(&server, &[]).await;
    let org_id = orgs::find_by_slug(&server.ctx, &org).await.unwrap().unwrap();
    plans::set_package(&server.ctx, org_id, "pro").await.unwrap();
    let api = Api::new(&server, Some(&key));
    (server, b, org, api)
}

fn agent(name: &str) -> Value {
    json!({ "name": name, "model": MODEL, "systemPrompt": "You review pull requests." })
}

#[tokio::test]
async fn agents_are_created_read_patched_and_soft_deleted() {
    let (server, _, _, api) = setup().await;
    let created = api.post("/agents", agent("Reviewer")).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let a = data(&created);
    assert_eq!(a["name"], "Reviewer");
    assert_eq!(a["model"], MODEL);
    assert_eq!(
        (a["enabled"].clone(), a["fastMode"].clone(), a["maxSteps"].clone()),
        (json!(true), json!(false), json!(10))
    );
    assert_eq!(
        (a["tools"].clone(), a["peers"].clone(), a["connectors"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(a["skills"], json!([]));
    let id = a["id"].as_str().unwrap().to_string();

    let patched = api
        .patch(&format!("/agents/{id}"), json!({ "maxSteps": 25, "description": "Checks style", "temperature": 0.2 }))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let p = data(&patched);
    assert_eq!((p["maxSteps"].clone(), p["temperature"].clone()), (json!(25), json!(0.2)));
    assert_eq!(p["systemPrompt"], "You review pull requests.", "absent fields stay");
    let cleared = data(&api.patch(&format!("/agents/{id}"), json!({ "description": null, "temperature": null })).await);
    assert_eq!((cleared["description"].clone(), cleared["temperature"].clone()), (Value::Null, Value::Null));
    assert_eq!(data(&api.get(&format!("/agents/{id}")).await)["maxSteps"], 25);

    api.post("/agents", agent("Writer")).await;
    let listed = data(&api.get("/agents").await);
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Writer", "Reviewer"], "newest first");

    let deleted = api.delete(&format!("/agents/{id}")).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(data(&deleted)["deletedAt"].is_string());
    assert_eq!(api.get(&format!("/agents/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.delete(&format!("/agents/{id}")).await.status, StatusCode::OK, "deleting again answers the same");
    // The name is free again.
    assert_eq!(api.post("/agents", agent("Reviewer")).await.status, StatusCode::OK);
    assert!(audit_count(&server, "agent.create").await >= 3);
    assert_eq!(audit_count(&server, "agent.delete").await, 1);
}

#[tokio::test]
async fn bad_agents_are_refused_with_the_field_named() {
    let (_server, _, _, api) = setup().await;
    // A model the org may not run names nothing: 404, like any reference.
    let unknown = api.post("/agents", json!({ "name": "X", "model": "openai/gpt-9" })).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["error"]["details"]["field"], "model");
    // JSON Schema's integer admits 12.0.
    let whole = api.post("/agents", json!({ "name": "Whole", "model": MODEL, "maxSteps": 12.0 })).await;
    assert_eq!(data(&whole)["maxSteps"], 12, "{}", whole.body);
    let fraction = api.post("/agents", json!({ "name": "Half", "model": MODEL, "maxSteps": 1.5 })).await;
    assert_eq!(fraction.status, StatusCode::BAD_REQUEST);
    // A system prompt of 32,000 four-byte characters is valid (over 128 KB
    // as JSON); one more is a 422, not a 413.
    let long = "😀".repeat(32_000);
    let full = api.post("/agents", json!({ "name": "Long", "model": MODEL, "systemPrompt": long })).await;
    assert_eq!(full.status, StatusCode::OK, "{}", &full.body[..200.min(full.body.len())]);
    let over =
        api.post("/agents", json!({ "name": "Longer", "model": MODEL, "systemPrompt": format!("{long}😀") })).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.json()["error"]["details"]["field"], "systemPrompt");
    let huge =
        api.post("/agents", json!({ "name": "Huge", "model": MODEL, "description": "x".repeat(600 * 1024) })).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let steps = api.post("/agents", json!({ "name": "X", "model": MODEL, "maxSteps": 0 })).await;
    assert_eq!(steps.json()["error"]["details"]["field"], "maxSteps");
    let blank = api.post("/agents", json!({ "name": "  ", "model": MODEL })).await;
    assert_eq!(blank.json()["error"]["details"]["field"], "name");
    let wrong_type = api.post("/agents", json!({ "name": "X", "model": MODEL, "enabled": "yes" })).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    api.post("/agents", agent("Taken")).await;
    let taken = api.post("/agents", agent("Taken")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.json()["error"]["details"]["field"], "name");
    // Nothing was created by the refusals.
    assert_eq!(data(&api.get("/agents").await)["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn restrictions_are_set_only_from_a_stepped_up_browser() {
    let (server, mut b, _, api) = setup().await;
    let id = data(&api.post("/agents", agent("Restricted")).await)["id"].as_str().unwrap().to_string();
    let peer = data(&api.post("/agents", agent("Peer")).await)["id"].as_str().unwrap().to_string();

    for body in [json!({ "tools": ["list_agents"] }), json!({ "peers": null }), json!({ "connectors": [] })] {
        let refused = api.patch(&format!("/agents/{id}"), body.clone()).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(refused.json()["error"]["message"], "This action requires a browser session");
    }
    let refused = api.post("/agents", json!({ "name": "Sneaky", "model": MODEL, "tools": [] })).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The owner's browser was stepped up by its passkey a moment ago.
    let set = b
        .api(
            Method::PATCH,
            &format!("/api/v1/agents/{id}"),
            json!({ "tools": ["list_agents", "message_agent"], "peers": [peer] }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(data(&set)["tools"], json!(["list_agents", "message_agent"]));
    assert_eq!(data(&set)["peers"], json!([peer]));
    assert_eq!(audit_count(&server, "agent.restrictions_change").await, 1);

    // A peer must be an agent of this org.
    let foreign =
        b.api(Method::PATCH, &format!("/api/v1/agents/{id}"), json!({ "peers": [uuid::Uuid::new_v4()] })).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    // Once the step-up is stale, the same change asks for it again.
    server.ctx.clock.advance(Duration::minutes(11));
    let stale = b.api(Method::PATCH, &format!("/api/v1/agents/{id}"), json!({ "tools": null })).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(stale.json()["error"]["details"]["stepUp"], "required");
    // Ordinary fields need no step-up.
    let renamed = b.api(Method::PATCH, &format!("/api/v1/agents/{id}"), json!({ "name": "Renamed" })).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(data(&renamed)["tools"], json!(["list_agents", "message_agent"]), "restrictions unchanged");
}

#[tokio::test]
async fn the_package_caps_live_agents_even_when_creates_race() {
    let url = fake_ollama(json!([{ "name": "llama3.2:latest" }, { "name": "qwen2.5:7b" }])).await;
    let server = start_with(|s| s.ollama_url = Some(url)).await;
    // The test catalogue's default package ("free") allows 1 agent.
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let racing: Vec<_> = (0..6)
        .map(|i| {
            let api = Api::new(&server, Some(&key));
            tokio::spawn(async move { api.post("/agents", agent(&format!("Racer {i}"))).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in racing {
        statuses.push(task.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(created, 1, "{statuses:?}");
    let blocked = api.post("/agents", agent("One more")).await;
    assert_eq!(blocked.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(blocked.json()["error"]["details"]["reason"], "package_blocks");
    assert_eq!(data(&api.get("/agents").await)["items"].as_array().unwrap().len(), 1);
}
