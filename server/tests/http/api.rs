//! `/api/v1` over real HTTP: envelope, auth, keys, projects, limits.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn keys_authenticate_and_bad_keys_get_401() {
    let server = start().await;
    let (_, org, key) = owner_with_key(&server, &[]).await;
    assert!(key.starts_with("alm_test_") && key.len() == 57, "{key}");
    let api = Api::new(&server, Some(&key));
    let overview = api.get("/dashboard/overview").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert_eq!(data(&overview)["org"]["slug"], org.as_str());

    for bad in [
        None,
        Some("alm_test_nope"),
        Some("Basic abc"),
        Some(&*key.replace(&key[20..21], if &key[20..21] == "0" { "1" } else { "0" })),
    ] {
        let a = Api::new(&server, bad).get("/projects").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(error_code(&a), "UNAUTHORIZED");
    }
    // A well-formed key with a valid checksum that was never minted.
    let unknown = {
        let body = format!("alm_test_{}", "ab".repeat(20));
        format!("{body}{:08x}", crc32(&body))
    };
    assert_eq!(Api::new(&server, Some(&unknown)).get("/projects").await.status, StatusCode::UNAUTHORIZED);
}

fn crc32(s: &str) -> u32 {
    // Same checksum as the product, computed independently (IEEE CRC-32).
    let mut crc = 0xFFFF_FFFFu32;
    for b in s.bytes() {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[tokio::test]
async fn the_key_checksum_is_crc32_of_the_rest() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let (body, check) = key.split_at(key.len() - 8);
    assert_eq!(u32::from_str_radix(check, 16).unwrap(), crc32(body));
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoked_once() {
    let server = start().await;
    let (mut browser, org, key) = owner_with_key(&server, &["terminal"]).await;
    let api = Api::new(&server, Some(&key));
    let list = api.get("/api-keys").await;
    let keys = data(&list)["items"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["prefix"], &key[..12]);
    assert_eq!(keys[0]["scopes"], json!(["models:read", "terminal"]));
    assert!(!list.body.contains(&key), "the secret never comes back");

    // Browser-only: an API key may neither mint nor revoke.
    let mint = api.post("/api-keys", json!({"name": "from a key"})).await;
    assert_eq!(mint.status, StatusCode::FORBIDDEN);
    assert!(mint.json()["error"]["message"].as_str().unwrap().contains("requires a browser session"));
    let id = keys[0]["id"].as_str().unwrap().to_string();
    assert_eq!(api.post(&format!("/api-keys/{id}/revoke"), json!({})).await.status, StatusCode::FORBIDDEN);

    let first = browser.call("revoke_api_key", &[("org", &org), ("key_id", &id)]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = browser.call("revoke_api_key", &[("org", &org), ("key_id", &id)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(api.get("/projects").await.status, StatusCode::UNAUTHORIZED, "a revoked key stops working");
    assert_eq!(audit_count(&server, "api_key.mint").await, 1);
    assert_eq!(audit_count(&server, "api_key.revoke").await, 1);
}

#[tokio::test]
async fn a_key_minted_without_javascript_is_shown_on_the_next_page_only() {
    let server = start().await;
    let (mut browser, org, key) = owner_with_key(&server, &[]).await;
    let page = format!("/{org}/developers");
    let posted = browser.submit("mint_api_key", &page, &[("org", &org), ("name", "no script")]).await;
    assert_eq!(posted.status, StatusCode::FOUND, "{}", posted.body);

    let keys = data(&Api::new(&server, Some(&key)).get("/api-keys").await)["items"].clone();
    let minted = keys.as_array().unwrap().iter().find(|k| k["name"] == "no script").expect("the key exists");
    let prefix = minted["prefix"].as_str().unwrap();
    let shown = browser.page(&page).await;
    let start = shown.body.find(&format!("value=\"{prefix}")).expect("the new secret is on the page") + 7;
    let secret = &shown.body[start..start + 57];
    assert_eq!(Api::new(&server, Some(secret)).get("/projects").await.status, StatusCode::OK, "and it works");
    assert!(shown.body.contains("it will not be shown again"));

    let again = browser.page(&page).await;
    assert!(!again.body.contains(secret), "shown once");
}

#[tokio::test]
async fn a_browser_session_may_call_the_api_with_its_org() {
    let server = start().await;
    let (browser, org, _) = owner_with_key(&server, &[]).await;
    let cookie = format!("alumia_session={}", browser.cookie.clone().unwrap());
    let api = Api::new(&server, None);
    let res = api.raw().get(format!("{}/api/v1/projects", server.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the user's only org is implied");
    let other = slug("second");
    let mut b = browser.clone();
    b.create_org(&other).await;
    let res = api.raw().get(format!("{}/api/v1/projects", server.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "two orgs: name one");
    let res = api
        .raw()
        .get(format!("{}/api/v1/projects?org={org}", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Minting from the browser over the API works (browser-only route).
    let res = api
        .raw()
        .post(format!("{}/api/v1/api-keys?org={org}", server.base))
        .header("cookie", &cookie)
        .header("origin", &server.public_url)
        .json(&json!({"name": "via api", "scopes": ["models:read", "terminal"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let minted: serde_json::Value = res.json().await.unwrap();
    assert!(minted["data"]["secret"].as_str().unwrap().starts_with("alm_test_"));
}

#[tokio::test]
async fn only_owners_and_admins_grant_billing_charge() {
    let server = start().await;
    let (mut owner, org, _) = owner_with_key(&server, &["billing:machine:charge"]).await;
    let invite = owner.call("create_invite", &[("org", &org), ("role", "member")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let mut member = Browser::new(&server);
    member.sign_up(&email("member")).await;
    member.call("accept_invite", &[("token", &token)]).await;
    let refused = member.call("mint_api_key", &[("org", &org), ("name", "k"), ("billing", "on")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let ok = member.call("mint_api_key", &[("org", &org), ("name", "k")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["key"]["scopes"], json!(["models:read"]), "dashboard keys default to models:read");
}

#[tokio::test]
async fn projects_crud_with_partial_patch_and_soft_delete() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let created = api
        .post("/projects", json!({"name": "Website Redesign", "description": "New site", "metadata": {"team": "web"}}))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let p = data(&created);
    assert_eq!(p["slug"], "website-redesign");
    assert!(p["createdAt"].as_str().unwrap().ends_with('Z'));
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);

    let listed = |page: serde_json::Value| page["items"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(listed(data(&api.get("/projects").await)), "Website Redesign");
    let patched = data(&api.patch(&format!("/projects/{id}"), json!({"name": "Redesign"})).await);
    assert_eq!(listed(data(&api.get("/projects").await)), "Redesign", "a write drops the cached page at once");
    assert_eq!(patched["name"], "Redesign");
    assert_eq!(patched["description"], "New site", "absent fields stay");
    assert_eq!(patched["metadata"], json!({"team": "web"}));
    let cleared = data(&api.patch(&format!("/projects/{id}"), json!({"description": null})).await);
    assert_eq!(cleared["description"], serde_json::Value::Null, "null clears");

    let dup = api.post("/projects", json!({"name": "Other", "slug": "website-redesign"})).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let deleted = api.delete(&format!("/projects/{id}")).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(data(&deleted)["deletedAt"].is_string());
    let again = api.delete(&format!("/projects/{id}")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, deleted.body, "deleting again gives the same terminal answer");
    assert_eq!(api.get(&format!("/projects/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(data(&api.get("/projects").await)["items"].as_array().unwrap().len(), 0);
    // The slug is free again.
    assert_eq!(api.post("/projects", json!({"name": "Website Redesign"})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_answers_400_or_422_in_the_envelope() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let raw = api
        .raw()
        .post(format!("{}/api/v1/projects", server.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let wrong_type = api.post("/projects", json!({"name": 5})).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&wrong_type), "BAD_REQUEST");
    assert!(wrong_type.json()["error"]["message"].as_str().unwrap().contains("name"), "{}", wrong_type.body);

    let empty = api.post("/projects", json!({"name": "  "})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json()["error"]["details"]["field"], "name");

    let mut deep = json!({});
    for _ in 0..13 {
        deep = json!({ "x": deep });
    }
    let too_deep = api.post("/projects", json!({"name": "Deep", "metadata": deep})).await;
    assert_eq!(too_deep.status, StatusCode::UNPROCESSABLE_ENTITY);
    let big = api.post("/projects", json!({"name": "Big", "metadata": {"blob": "x".repeat(33 * 1024)}})).await;
    assert_eq!(big.status, StatusCode::UNPROCESSABLE_ENTITY);
    let settings = api.post("/projects", json!({"name": "Set", "settings": {"blob": "x".repeat(9 * 1024)}})).await;
    assert_eq!(settings.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(settings.json()["error"]["details"]["field"], "settings");

    let huge = api.post("/projects", json!({"name": "Huge", "description": "x".repeat(130 * 1024)})).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&huge), "PAYLOAD_TOO_LARGE");

    let bad_limit = api.get("/projects?limit=500").await;
    assert_eq!(bad_limit.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_cursor = api.get("/projects?cursor=garbage").await;
    assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.get("/projects/not-a-uuid").await.status, StatusCode::NOT_FOUND);
    let unknown = api.send(Method::PUT, "/projects", None).await;
    assert_eq!(error_code(&unknown), "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn production_requires_content_length_on_posts() {
    let server = start_with(|s| s.environment = Some("production".into())).await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    assert!(key.starts_with("alm_live_"), "production keys are live keys");
    let api = Api::new(&server, Some(&key));
    let stream = futures_stream(b"{\"name\":\"Streamed\"}".to_vec());
    let res = api
        .raw()
        .post(format!("{}/api/v1/projects", server.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::LENGTH_REQUIRED);
    assert_eq!(api.post("/projects", json!({"name": "Sized"})).await.status, StatusCode::OK);
}

fn futures_stream(bytes: Vec<u8>) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Once(Option<Vec<u8>>);
    impl futures_core::Stream for Once {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    Once(Some(bytes))
}

#[tokio::test]
async fn pagination_is_stable_while_rows_are_added() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    for i in 0..25 {
        assert_eq!(api.post("/projects", json!({"name": format!("P {i:02}")})).await.status, StatusCode::OK);
    }
    let first = data(&api.get("/projects?limit=10").await);
    assert_eq!(first["items"].as_array().unwrap().len(), 10);
    assert_eq!(first["hasMore"], true);
    assert_eq!(first["items"][0]["name"], "P 24", "newest first");
    // New projects arrive between pages: they must not shift the next page.
    for i in 0..5 {
        api.post("/projects", json!({"name": format!("New {i}")})).await;
    }
    let mut seen: Vec<String> =
        first["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    let mut cursor = first["nextCursor"].as_str().unwrap().to_string();
    loop {
        let page = data(&api.get(&format!("/projects?limit=10&cursor={cursor}")).await);
        seen.extend(page["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()));
        if page["hasMore"] == false {
            assert_eq!(page["nextCursor"], serde_json::Value::Null);
            break;
        }
        cursor = page["nextCursor"].as_str().unwrap().to_string();
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("P {i:02}")).collect();
    assert_eq!(seen, expected, "every original project exactly once, in order");
    assert_eq!(data(&api.get("/projects").await)["items"].as_array().unwrap().len(), 20, "default limit is 20");
}

#[tokio::test]
async fn another_orgs_resources_are_404_never_403() {
    let server = start().await;
    let (_, _, key_a) = owner_with_key(&server, &[]).await;
    let (browser_b, org_b, key_b) = owner_with_key(&server, &[]).await;
    let a = Api::new(&server, Some(&key_a));
    let b = Api::new(&server, Some(&key_b));
    let project = data(&b.post("/projects", json!({"name": "B's project"})).await);
    let pid = project["id"].as_str().unwrap().to_string();
    let key_id = data(&b.get("/api-keys").await)["items"][0]["id"].as_str().unwrap().to_string();

    assert_eq!(a.get(&format!("/projects/{pid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(a.patch(&format!("/projects/{pid}"), json!({"name": "mine"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(a.delete(&format!("/projects/{pid}")).await.status, StatusCode::NOT_FOUND);
    assert!(data(&a.get("/projects").await)["items"].as_array().unwrap().is_empty());
    assert!(!a.get("/api-keys").await.body.contains(&key_id));
    // A browser of org A naming org B's key: 404.
    let (mut browser_a, org_a, _) = owner_with_key(&server, &[]).await;
    let r = browser_a.call("revoke_api_key", &[("org", &org_a), ("key_id", &key_id)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = browser_a.call("revoke_api_key", &[("org", &org_b), ("key_id", &key_id)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let ws = browser_api(&server, &browser_b, Method::POST, "/workspaces", Some(json!({"name": "B's box"}))).await;
    let ws_id = data(&ws)["id"].as_str().unwrap().to_string();
    assert!(data(&a.get("/workspaces").await)["items"].as_array().unwrap().is_empty());
    let cross = browser_api(&server, &browser_a, Method::DELETE, &format!("/workspaces/{ws_id}"), None).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND);
    let b_member = data(&browser_api(&server, &browser_b, Method::GET, "/members", None).await)["items"][0]["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let cross = browser_api(&server, &browser_a, Method::DELETE, &format!("/members/{b_member}"), None).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND, "another org's member is not found here");
    // B's own project is untouched.
    assert_eq!(data(&b.get(&format!("/projects/{pid}")).await)["name"], "B's project");
}

#[tokio::test]
async fn key_minting_is_rate_limited() {
    let server = start().await;
    let (mut browser, org, _) = owner_with_key(&server, &[]).await;
    let mut limited = None;
    for _ in 0..12 {
        let a = browser.call("mint_api_key", &[("org", &org), ("name", "burst")]).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(a);
            break;
        }
    }
    let limited = limited.expect("the 11th key in a minute is refused");
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn last_used_is_recorded_at_most_once_a_minute() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    api.get("/projects").await;
    let first = data(&api.get("/api-keys").await)["items"][0]["lastUsedAt"].clone();
    assert!(first.is_string());
    server.ctx.clock.advance(chrono::Duration::seconds(30));
    api.get("/projects").await;
    assert_eq!(data(&api.get("/api-keys").await)["items"][0]["lastUsedAt"], first, "not rewritten within a minute");
    server.ctx.clock.advance(chrono::Duration::seconds(61));
    api.get("/projects").await;
    assert_ne!(data(&api.get("/api-keys").await)["items"][0]["lastUsedAt"], first);
}

/// Every route `/api/v1` mounts, as (method, path).
const MOUNTED: &[(&str, &str)] = &[
    ("get", "/api/v1/dashboard/overview"),
    ("get", "/api/v1/billing"),
    ("get", "/api/v1/billing/ledger"),
    ("put", "/api/v1/billing/budgets"),
    ("post", "/api/v1/billing/top-ups/payment-intent"),
    ("post", "/api/v1/webhooks/stripe"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/files"),
    ("post", "/api/v1/files"),
    ("get", "/api/v1/files/{id}"),
    ("delete", "/api/v1/files/{id}"),
    ("get", "/api/v1/projects/{id}/blocks"),
    ("post", "/api/v1/projects/{id}/blocks"),
    ("get", "/api/v1/projects/{id}/blocks/{blockId}"),
    ("patch", "/api/v1/projects/{id}/blocks/{blockId}"),
    ("delete", "/api/v1/projects/{id}/blocks/{blockId}"),
    ("post", "/api/v1/projects/{id}/share"),
    ("delete", "/api/v1/projects/{id}/share"),
    ("get", "/api/v1/share-links"),
    ("delete", "/api/v1/share-links/{id}"),
    ("post", "/api/v1/api-keys/{id}/revoke"),
    ("get", "/api/v1/projects"),
    ("post", "/api/v1/projects"),
    ("get", "/api/v1/projects/{id}"),
    ("patch", "/api/v1/projects/{id}"),
    ("delete", "/api/v1/projects/{id}"),
    ("get", "/api/v1/workspaces"),
    ("post", "/api/v1/workspaces"),
    ("delete", "/api/v1/workspaces/{id}"),
    ("get", "/api/v1/members"),
    ("get", "/api/v1/members/invites"),
    ("post", "/api/v1/members/invites"),
    ("patch", "/api/v1/members/{userId}"),
    ("delete", "/api/v1/members/{userId}"),
    ("get", "/api/v1/models"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents/{id}"),
    ("patch", "/api/v1/agents/{id}"),
    ("delete", "/api/v1/agents/{id}"),
    ("get", "/api/v1/sessions"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions/{id}"),
    ("get", "/api/v1/sessions/{id}/messages"),
    ("post", "/api/v1/sessions/{id}/messages"),
    ("get", "/api/v1/sessions/{id}/events"),
    ("post", "/api/v1/sessions/{id}/cancel"),
    ("get", "/api/v1/runs/{id}"),
    ("get", "/api/v1/schedules"),
    ("post", "/api/v1/schedules"),
    ("get", "/api/v1/schedules/preview"),
    ("get", "/api/v1/schedules/{id}"),
    ("patch", "/api/v1/schedules/{id}"),
    ("delete", "/api/v1/schedules/{id}"),
    ("post", "/api/v1/schedules/{id}/run"),
    ("get", "/api/v1/schedules/{id}/runs"),
    ("get", "/api/v1/notifications"),
    ("post", "/api/v1/notifications/read-all"),
    ("get", "/api/v1/notifications/stream"),
    ("post", "/api/v1/notifications/{id}/read"),
    ("get", "/api/v1/openapi.json"),
];

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_mounted_routes() {
    let server = start().await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let doc = api.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    // It parses as an OpenAPI document, and every $ref points at a schema it has.
    let parsed: utoipa::openapi::OpenApi = serde_json::from_value(doc.clone()).expect("a valid OpenAPI document");
    let schemas = parsed.components.as_ref().unwrap().schemas.clone();
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap();
    for code in [
        "BAD_REQUEST",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "CONFLICT",
        "PAYLOAD_TOO_LARGE",
        "VALIDATION_ERROR",
        "TOO_MANY_REQUESTS",
        "METHOD_NOT_ALLOWED",
        "REQUEST_TIMEOUT",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} documented");
    }

    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut mounted: Vec<(String, String)> = MOUNTED.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    mounted.sort();
    assert_eq!(documented, mounted, "the document lists every mounted route, and only those");

    // And each documented route is really served (not the fallback).
    for (method, path) in &documented {
        let path = path
            .trim_start_matches("/api/v1")
            .replace("{id}", &uuid::Uuid::new_v4().to_string())
            .replace("{userId}", &uuid::Uuid::new_v4().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        if path.ends_with("/stream") {
            // Endless: its status says it is served.
            let url = format!("{}/api/v1{path}", server.base);
            let res = api.raw().get(url).bearer_auth(&key).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path} is mounted");
            continue;
        }
        let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
        let a = api.send(method.clone(), &path, body).await;
        assert!(!a.body.contains("No such API route"), "{method} {path} is mounted");
    }
    let viewer = api.raw().get(format!("{}/api/docs", server.base)).send().await.unwrap();
    assert_eq!(viewer.status(), StatusCode::OK);
    let html = viewer.text().await.unwrap();
    assert!(
        html.contains("/pkg/scalar.js") && html.contains("Alumia API"),
        "the viewer is self-hosted and carries the document"
    );
}

/// A browser's cookie as an API client sends it.
async fn browser_api(
    server: &TestServer,
    browser: &Browser,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}/api/v1{path}", server.base))
        .header("cookie", format!("alumia_session={}", browser.cookie.clone().unwrap()))
        .header("origin", &server.public_url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    Answer { status: res.status(), headers: res.headers().clone(), body: res.text().await.unwrap() }
}

#[tokio::test]
async fn workspaces_are_listed_for_keys_and_managed_from_browsers() {
    let server = start().await;
    let (browser, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let refused = api.post("/workspaces", json!({"name": "from a key"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("requires a browser session"));

    let made = browser_api(&server, &browser, Method::POST, "/workspaces", Some(json!({"name": "Build box"}))).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let id = data(&made)["id"].as_str().unwrap().to_string();
    let dup = browser_api(&server, &browser, Method::POST, "/workspaces", Some(json!({"name": "Build box"}))).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let listed = data(&api.get("/workspaces").await);
    assert_eq!(listed["items"][0]["name"], "Build box");
    assert_eq!(api.delete(&format!("/workspaces/{id}")).await.status, StatusCode::FORBIDDEN);
    let gone = browser_api(&server, &browser, Method::DELETE, &format!("/workspaces/{id}"), None).await;
    assert_eq!(gone.status, StatusCode::OK);
    let again = browser_api(&server, &browser, Method::DELETE, &format!("/workspaces/{id}"), None).await;
    assert_eq!(again.body, gone.body, "same terminal answer");
    assert!(data(&api.get("/workspaces").await)["items"].as_array().unwrap().is_empty());
    assert_eq!(audit_count(&server, "workspace.create").await, 1);
    assert_eq!(audit_count(&server, "workspace.delete").await, 1);
}

#[tokio::test]
async fn members_are_read_by_keys_and_managed_in_the_browser_only() {
    let server = start().await;
    let (browser, _, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let by_key = data(&api.get("/members").await);
    assert_eq!(by_key["items"][0]["role"], "owner", "a key reads the member list");
    assert_eq!(by_key["hasMore"], false);
    assert_eq!(api.post("/members/invites", json!({"role": "member"})).await.status, StatusCode::FORBIDDEN);

    let list = browser_api(&server, &browser, Method::GET, "/members", None).await;
    assert_eq!(data(&list), by_key, "the same list for the session");
    let me = data(&list)["items"][0]["userId"].as_str().unwrap().to_string();
    assert_eq!(api.patch(&format!("/members/{me}"), json!({"role": "admin"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.delete(&format!("/members/{me}")).await.status, StatusCode::FORBIDDEN);

    let invite = browser_api(&server, &browser, Method::POST, "/members/invites", Some(json!({"role": "admin"}))).await;
    assert!(data(&invite)["url"].as_str().unwrap().contains("/invite/"));
    let last_owner =
        browser_api(&server, &browser, Method::PATCH, &format!("/members/{me}"), Some(json!({"role": "member"}))).await;
    assert_eq!(last_owner.status, StatusCode::CONFLICT);
    let bad_role =
        browser_api(&server, &browser, Method::PATCH, &format!("/members/{me}"), Some(json!({"role": "king"}))).await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    let pending = data(&api.get("/members/invites").await);
    assert_eq!(pending["items"].as_array().unwrap().len(), 1, "an owner's key sees the pending invite");
    assert_eq!(pending["items"][0]["role"], "admin");
}
