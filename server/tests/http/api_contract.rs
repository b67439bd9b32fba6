//! The rules every `/api/v1` answer follows (SPEC §2, §6), walked over
//! every operation the OpenAPI document lists, so a route added later
//! that forgets one fails here: a list answers `{items, nextCursor,
//! hasMore}` and takes bounded `limit`/`cursor`; no answer is a bare
//! array; every JSON key is camelCase; a method a path lacks is 405 with
//! `Allow`. (schemathesis, a step of `cargo xtask test`, checks the answers
//! against the document; this checks the document's own rules.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

/// camelCase: a lowercase start, then letters and digits only.
fn camel(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Every object key in `value`, with where it was found.
fn keys(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(format!("{at}.{k}"));
                keys(v, &format!("{at}.{k}"), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, &format!("{at}[]"), out)),
        _ => {}
    }
}

fn assert_camel(value: &Value, what: &str) {
    let mut found = Vec::new();
    keys(value, "", &mut found);
    let bad: Vec<_> = found.iter().filter(|k| !camel(k.rsplit('.').next().unwrap())).collect();
    assert!(bad.is_empty(), "{what}: keys that are not camelCase: {bad:?}");
}

/// The names of every property any schema in the document declares.
fn schema_properties(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "properties" {
                    out.extend(v.as_object().into_iter().flat_map(|p| p.keys()).map(|name| format!("{at}.{name}")));
                }
                schema_properties(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| schema_properties(v, at, out)),
        _ => {}
    }
}

/// Whether an answer's `data` is a page, and if so that it is exactly one.
fn assert_shape(data: &Value, paged: bool, what: &str) {
    assert!(!data.is_array(), "{what}: a list must answer a page {{items, nextCursor, hasMore}}, not a bare array");
    let looks_paged = data.get("items").is_some();
    assert_eq!(looks_paged, paged, "{what}: answers a page exactly when it takes limit/cursor: {data}");
    if paged {
        let mut fields: Vec<_> = data.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        // The page's three, plus counts of the whole list (`unreadCount`).
        fields.retain(|f| !f.ends_with("Count"));
        assert_eq!(fields, ["hasMore", "items", "nextCursor"], "{what}");
        assert!(data["items"].is_array() && data["hasMore"].is_boolean(), "{what}: {data}");
    }
}

/// The ids the walk fills path parameters with.
struct Ids {
    agent: String,
    project: String,
    workspace: String,
    key: String,
    member: String,
    session: String,
    run: String,
    schedule: String,
    notification: String,
    block: String,
    share_link: String,
    file: String,
}

/// How the walk calls each documented operation, as (path with real ids,
/// body, whether it needs a stepped-up browser rather than the key). A
/// route without an entry here fails the walk: add one with the route.
fn sample(method: &str, path: &str, ids: &Ids) -> Option<(String, Option<Value>, bool)> {
    let id = |p: &str, v: &str| path.replace(p, v);
    let block = |p: &str| p.replace("{id}", &ids.project).replace("{blockId}", &ids.block);
    Some(match (method, path) {
        ("get", "/api/v1/projects/{id}/blocks/{blockId}") => (block(path), None, false),
        ("post", "/api/v1/projects/{id}/blocks") => {
            (block(path), Some(json!({"kind": "markdown", "content": "walked"})), false)
        }
        ("patch", "/api/v1/projects/{id}/blocks/{blockId}") => (block(path), Some(json!({"content": "walked"})), false),
        ("delete", "/api/v1/projects/{id}/blocks/{blockId}") => (block(path), None, false),
        ("post", "/api/v1/projects/{id}/share") => (id("{id}", &ids.project), Some(json!({"expiresInDays": 7})), true),
        ("delete", "/api/v1/projects/{id}/share") => (id("{id}", &ids.project), None, true),
        ("delete", "/api/v1/share-links/{id}") => (id("{id}", &ids.share_link), None, true),
        ("get", "/api/v1/files/{id}") => (id("{id}", &ids.file), None, false),
        ("delete", "/api/v1/files/{id}") => (id("{id}", &ids.file), None, false),
        // Not multipart: the documented 400 (files.rs uploads for real).
        ("post", "/api/v1/files") => (path.into(), None, false),
        ("get", "/api/v1/agents/{id}") => (id("{id}", &ids.agent), None, false),
        ("get", "/api/v1/runs/{id}") => (id("{id}", &ids.run), None, false),
        ("get", p) if p.starts_with("/api/v1/schedules/{id}") => (id("{id}", &ids.schedule), None, false),
        ("get", "/api/v1/schedules/preview") => {
            ("/api/v1/schedules/preview?cron=0%209%20*%20*%201-5&timezone=Europe/Berlin".into(), None, false)
        }
        ("get", p) if p.starts_with("/api/v1/sessions/{id}") => (id("{id}", &ids.session), None, false),
        ("get", _) => (id("{id}", &ids.project), None, false),
        ("post", "/api/v1/agents") => (path.into(), Some(json!({"name": "Walked", "model": WALK_MODEL})), false),
        ("patch", "/api/v1/agents/{id}") => (id("{id}", &ids.agent), Some(json!({"maxSteps": 12})), false),
        ("delete", "/api/v1/agents/{id}") => (id("{id}", &ids.agent), None, false),
        ("post", "/api/v1/projects") => {
            (path.into(), Some(json!({"name": "Walked", "metadata": {"ownerTeam": "x"}})), false)
        }
        ("patch", "/api/v1/projects/{id}") => (id("{id}", &ids.project), Some(json!({"description": "walked"})), false),
        ("delete", "/api/v1/projects/{id}") => (id("{id}", &ids.project), None, false),
        ("post", "/api/v1/sessions") => {
            (path.into(), Some(json!({"projectId": ids.project, "agentId": ids.agent})), false)
        }
        // Answered at once; the run fails in the background (no provider
        // listens at the walk's address).
        ("post", "/api/v1/sessions/{id}/messages") => {
            (format!("{}?wait=false", id("{id}", &ids.session)), Some(json!({"content": "walked"})), false)
        }
        ("post", "/api/v1/sessions/{id}/cancel") => (id("{id}", &ids.session), None, false),
        ("post", "/api/v1/notifications/{id}/read") => (id("{id}", &ids.notification), None, false),
        ("post", "/api/v1/notifications/read-all") => (path.into(), None, false),
        ("post", "/api/v1/schedules") => (
            path.into(),
            Some(json!({"name": "Walked", "cron": "@daily", "prompt": "walk", "agentId": ids.agent,
                        "projectId": ids.project})),
            false,
        ),
        // The walk's provider does not listen: the firing fails at once.
        ("post", "/api/v1/schedules/{id}/run") => (id("{id}", &ids.schedule), None, false),
        ("patch", "/api/v1/schedules/{id}") => (id("{id}", &ids.schedule), Some(json!({"enabled": false})), false),
        ("delete", "/api/v1/schedules/{id}") => (id("{id}", &ids.schedule), None, false),
        ("post", "/api/v1/workspaces") => (path.into(), Some(json!({"name": "Second"})), true),
        ("delete", "/api/v1/workspaces/{id}") => (id("{id}", &ids.workspace), None, true),
        ("post", "/api/v1/api-keys") => (path.into(), Some(json!({"name": "walked"})), true),
        ("post", "/api/v1/api-keys/{id}/revoke") => (id("{id}", &ids.key), None, true),
        ("post", "/api/v1/members/invites") => (path.into(), Some(json!({"role": "member"})), true),
        ("patch", "/api/v1/members/{userId}") => (id("{userId}", &ids.member), Some(json!({"role": "admin"})), true),
        ("delete", "/api/v1/members/{userId}") => (id("{userId}", &ids.member), None, true),
        ("put", "/api/v1/billing/budgets") => (path.into(), Some(json!({"monthlyCredits": "50"})), true),
        // No Stripe on this server: documented 503s, still in the envelope.
        ("post", "/api/v1/billing/top-ups/payment-intent") => {
            (path.into(), Some(json!({"amountCents": 500, "idempotencyKey": "walk"})), false)
        }
        ("post", "/api/v1/webhooks/stripe") => (path.into(), Some(json!({})), false),
        _ => return None,
    })
}

/// One model for the walk's agents, from a configured provider.
const WALK_MODEL: &str = "walk/model";
const WALK_PROVIDER: &str = r#"
[[providers]]
id = "walk"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[providers.models]]
id = "model"
input_credits_per_mtok = 1
output_credits_per_mtok = 2
"#;

#[tokio::test]
async fn every_route_answers_pages_for_lists_and_camel_case_keys() {
    let server = start_with_config(WALK_PROVIDER, |s| s.disable_rate_limit = Some(true)).await;
    let (mut owner, org, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    // A package with managed models and room for agents.
    let org_id = app::domain::orgs::find_by_slug(&server.ctx, &org).await.unwrap().unwrap();
    app::domain::billing::plans::set_package(&server.ctx, org_id, "pro").await.unwrap();
    app::domain::billing::grants::grant_now(&server.ctx, org_id).await.unwrap();
    let agent = data(&api.post("/agents", json!({"name": "Seed", "model": WALK_MODEL})).await);

    // Something in every list, so the walk sees real items.
    let project = data(&api.post("/projects", json!({"name": "Seed", "metadata": {"costCenter": 7}})).await);
    let workspace = owner.api(Method::POST, &format!("/api/v1/workspaces?org={org}"), json!({"name": "Seed"})).await;
    assert_eq!(workspace.status, StatusCode::OK, "{}", workspace.body);
    let minted = owner.api(Method::POST, &format!("/api/v1/api-keys?org={org}"), json!({"name": "spare"})).await;
    let invite =
        owner.api(Method::POST, &format!("/api/v1/members/invites?org={org}"), json!({"role": "member"})).await;
    let token = invite.json()["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let mut member = Browser::new(&server);
    member.sign_up(&email("walked")).await;
    assert_eq!(member.call("accept_invite", &[("token", &token)]).await.status, StatusCode::OK);
    // A plain member reads the members but not the pending invites (a way in).
    let by_member = member.api(Method::GET, &format!("/api/v1/members?org={org}"), json!({})).await;
    assert_eq!(data(&by_member)["items"].as_array().unwrap().len(), 2);
    let invites = member.api(Method::GET, &format!("/api/v1/members/invites?org={org}"), json!({})).await;
    assert_eq!(invites.status, StatusCode::FORBIDDEN, "{}", invites.body);
    owner.api(Method::POST, &format!("/api/v1/members/invites?org={org}"), json!({"role": "admin"})).await;
    let members = data(&api.get("/members").await);
    let member_id = members["items"].as_array().unwrap().iter().find(|m| m["role"] == "member").unwrap()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let session = data(&api.post("/sessions", json!({"projectId": project["id"], "agentId": agent["id"]})).await);
    let session_id = session["id"].as_str().unwrap().to_string();
    let started = api.post(&format!("/sessions/{session_id}/messages?wait=false"), json!({"content": "seed"})).await;
    let schedule = api
        .post(
            "/schedules",
            json!({"name": "Seed", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin", "prompt": "seed",
                   "agentId": agent["id"], "projectId": project["id"]}),
        )
        .await;
    let payload = json!({ "scheduleId": data(&schedule)["id"], "scheduleName": "Seed", "reason": "stalled" });
    app::domain::notifications::notify(&server.ctx, org_id, None, "schedule.failed", payload).await.unwrap();
    let notification = app::domain::notifications::list(&server.ctx, org_id, 1).await.unwrap()[0].id;
    let block = data(
        &api.post(
            &format!("/projects/{}/blocks", project["id"].as_str().unwrap()),
            json!({"kind": "markdown", "content": "seed"}),
        )
        .await,
    );
    let shared = owner
        .api(Method::POST, &format!("/api/v1/projects/{}/share?org={org}", project["id"].as_str().unwrap()), json!({}))
        .await;
    let uploaded = reqwest::Client::new()
        .post(format!("{}/api/v1/files?projectId={}", server.base, project["id"].as_str().unwrap()))
        .bearer_auth(&key)
        .header("content-type", "multipart/form-data; boundary=walk")
        .body("--walk\r\nContent-Disposition: form-data; name=\"file\"; filename=\"walk.txt\"\r\n\r\nwalked\r\n--walk--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::OK);
    let file: Value = uploaded.json().await.unwrap();
    let ids = Ids {
        file: file["data"]["id"].as_str().unwrap().into(),
        block: block["id"].as_str().unwrap().into(),
        share_link: data(&shared)["link"]["id"].as_str().unwrap().into(),
        notification: notification.to_string(),
        schedule: data(&schedule)["id"].as_str().unwrap().into(),
        session: session_id,
        run: data(&started)["run"]["id"].as_str().unwrap().into(),
        agent: agent["id"].as_str().unwrap().into(),
        project: project["id"].as_str().unwrap().into(),
        workspace: workspace.json()["data"]["id"].as_str().unwrap().into(),
        key: minted.json()["data"]["key"]["id"].as_str().unwrap().into(),
        member: member_id,
    };

    let doc = api.get("/openapi.json").await.json();
    let mut properties = Vec::new();
    schema_properties(&doc, "", &mut properties);
    let bad: Vec<_> = properties.iter().filter(|p| !camel(p.rsplit('.').next().unwrap())).collect();
    assert!(properties.len() > 50 && bad.is_empty(), "documented properties that are not camelCase: {bad:?}");
    let mut operations: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations.push((method.clone(), path.clone(), op.clone()));
        }
    }
    // Reads first, then changes, deletions last: each sees the others' data.
    let rank = |m: &str| match m {
        "get" => 0,
        "post" | "put" | "patch" => 1,
        _ => 2,
    };
    operations.sort_by_key(|(m, p, _)| (rank(m), p.contains("revoke"), p.clone()));

    let mut walked = 0;
    for (method, path, op) in &operations {
        let what = format!("{} {path}", method.to_uppercase());
        // Not JSON: the event stream (sessions.rs reads it).
        if path == "/api/v1/openapi.json" || path.ends_with("/events") || path.ends_with("/stream") {
            continue;
        }
        let params: Vec<&str> =
            op["parameters"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();
        let paged = params.contains(&"limit");
        if paged {
            assert!(params.contains(&"cursor"), "{what}: a paged list takes cursor too");
            let limit = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
            assert_eq!(
                (limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64()),
                (Some(1), Some(100)),
                "{what}"
            );
            let cursor = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "cursor").unwrap();
            assert_eq!(cursor["schema"]["pattern"], app::domain::paging::CURSOR_PATTERN, "{what}");
        }
        let (concrete, body, browser) =
            sample(method, path, &ids).unwrap_or_else(|| panic!("{what}: add a sample call to the walk"));
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = if browser {
            let sep = if concrete.contains('?') { '&' } else { '?' };
            owner.api(m, &format!("{concrete}{sep}org={org}"), body.unwrap_or(json!({}))).await
        } else {
            api.send(m, concrete.strip_prefix("/api/v1").unwrap(), body).await
        };
        let json = answer.json();
        assert_camel(&json, &what);
        if answer.status.is_success() {
            assert_shape(&json["data"], paged, &what);
            if paged && method == "get" {
                // The second page of a one-item page is a page too.
                let first = api.get(&format!("{}?limit=1", concrete.strip_prefix("/api/v1").unwrap())).await;
                let first = data(&first);
                assert_shape(&first, true, &what);
                if let Some(next) = first["nextCursor"].as_str() {
                    let second =
                        api.get(&format!("{}?limit=1&cursor={next}", concrete.strip_prefix("/api/v1").unwrap())).await;
                    assert_shape(&data(&second), true, &format!("{what} page 2"));
                    assert_ne!(data(&second)["items"][0], first["items"][0], "{what}: page 2 goes on");
                }
            }
        } else {
            let documented = op["responses"].get(answer.status.as_u16().to_string()).is_some();
            assert!(documented, "{what} answered {} which the document does not list: {}", answer.status, answer.body);
            assert_eq!(json["success"], false, "{what}: {}", answer.body);
        }
        walked += 1;
    }
    assert!(walked >= 20, "walked {walked} operations");
}

#[tokio::test]
async fn a_method_a_path_lacks_is_405_with_allow() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    for (method, path, allow) in [
        ("TRACE", "/projects", "GET,HEAD,POST"),
        ("DELETE", "/billing", "GET,HEAD"),
        ("PUT", "/projects/00000000-0000-4000-8000-000000000000", "GET,HEAD,PATCH,DELETE"),
    ] {
        let a = api.send(Method::from_bytes(method.as_bytes()).unwrap(), path, None).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(error_code(&a), "METHOD_NOT_ALLOWED");
        let mut got: Vec<String> =
            a.headers["allow"].to_str().unwrap().split(',').map(|m| m.trim().to_string()).collect();
        let mut want: Vec<String> = allow.split(',').map(str::to_string).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{method} {path}: Allow");
    }
    assert_eq!(api.get("/nothing-here").await.status, StatusCode::NOT_FOUND, "an unknown path stays 404");
}
