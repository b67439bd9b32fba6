//! An org's own model providers (BYOK, SPEC §9): added from a stepped-up
//! browser by an owner or admin, models read from the provider's
//! `/models` with the key, the key sealed and shown as its last four
//! characters only, runs on those models at 0 credits with no ledger
//! entry, removal, and what is refused (a bad key, a stale step-up, an id
//! the server uses, a URL that is not one, a package without BYOK).

use reqwest::StatusCode;
use serde_json::{json, Value};

use app::domain::billing::{grants, plans};
use app::domain::orgs;

use crate::fake_provider::{FakeProvider, Scripted, LISTED_MODELS, REFUSED_KEY};
use crate::sessions::setup;
use crate::support::*;

const KEY: &str = "sk-own-secret-key-9876";

fn add_form<'a>(org: &'a str, base_url: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("org", org), ("id", "my-own"), ("kind", "openai"), ("base_url", base_url), ("api_key", key)]
}

async fn ledger_len(api: &Api) -> usize {
    data(&api.get("/billing/ledger").await)["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn an_owner_adds_a_key_and_its_models_run_at_0_credits() {
    let mut t = setup().await;
    let base = t.fake.base_url();
    let added = t.browser.call("add_byok_provider", &add_form(&t.org, &base, KEY)).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(!added.body.contains("sk-own-secret"), "the key never comes back: {}", added.body);
    let view = added.json();
    assert_eq!((view["provider"].as_str(), view["keyLast4"].as_str()), (Some("my-own"), Some("9876")));
    assert_eq!(view["models"], json!(LISTED_MODELS), "read from the provider's /models");
    // The provider was asked with the key, as its API wants it.
    let asked = t.fake.requests().into_iter().find(|r| r.path == "/v1/models").unwrap();
    assert_eq!(asked.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(audit_count(&t.server, "provider.add").await, 1);

    let listed = t.browser.call("list_byok_providers", &[("org", &t.org)]).await;
    assert_eq!(listed.json()[0]["keyLast4"], "9876");
    assert!(!listed.body.contains("sk-own-secret"));
    let page = t.browser.page(&format!("/{}/agents", t.org)).await;
    assert!(page.body.contains("key ending 9876") && !page.body.contains("sk-own-secret"), "{}", page.body);

    // The org's catalogue has them, free and marked BYOK.
    let models = data(&t.api.get("/models").await);
    let own: Vec<&Value> = models["items"].as_array().unwrap().iter().filter(|m| m["provider"] == "my-own").collect();
    assert_eq!(own.len(), 2);
    assert_eq!((own[0]["id"].as_str(), own[0]["byok"].as_bool()), (Some("my-own/own-large"), Some(true)));
    assert_eq!(
        (own[0]["inputCreditsPerMtok"].as_str(), own[0]["outputCreditsPerMtok"].as_str()),
        (Some("0"), Some("0"))
    );

    // An agent on one runs on the org's key, at 0 credits, with no entry.
    let agent = t.api.post("/agents", json!({ "name": "Own", "model": "my-own/own-large" })).await;
    assert_eq!(agent.status, StatusCode::OK, "{}", agent.body);
    let agent = data(&agent)["id"].as_str().unwrap().to_string();
    let session = data(&t.api.post("/sessions", json!({ "projectId": t.project, "agentId": agent })).await)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (balance, entries) = (t.balance().await, ledger_len(&t.api).await);
    t.fake.push(Scripted::text(&["On your key."]).usage(100_000, 50_000));
    let a = data(&t.say(&session, "hello").await);
    assert_eq!(a["message"]["content"], "On your key.");
    assert_eq!((a["run"]["creditMicrounits"].as_i64(), a["run"]["inputTokens"].as_i64()), (Some(0), Some(100_000)));
    assert_eq!((t.balance().await, ledger_len(&t.api).await), (balance, entries), "no credits, no ledger entry");
    let chat = t.fake.requests().into_iter().rev().find(|r| r.path == "/v1/chat/completions").unwrap();
    assert_eq!(chat.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(chat.body["model"], "own-large");

    // Removed: gone from the catalogue, and its agent says why it cannot run.
    let id = view["id"].as_str().unwrap().to_string();
    let removed = t.browser.call("remove_byok_provider", &[("org", &t.org), ("id", &id)]).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(audit_count(&t.server, "provider.remove").await, 1);
    let models = data(&t.api.get("/models").await);
    assert!(models["items"].as_array().unwrap().iter().all(|m| m["provider"] != "my-own"));
    let refused = t.say(&session, "again").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(error_message(&refused).contains("not offered any more"), "{}", refused.body);
}

fn error_message(a: &Answer) -> String {
    a.json()["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn what_is_refused_when_adding_a_key() {
    let mut t = setup().await;
    let base = t.fake.base_url();
    // A key the provider refuses, said on the key's field.
    let bad = t.browser.call("add_byok_provider", &add_form(&t.org, &base, REFUSED_KEY)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.json()["details"]["field"], "api_key", "{}", bad.body);
    // An id this server's own provider has.
    let mut clash = add_form(&t.org, &base, KEY);
    clash[1] = ("id", "fake");
    assert_eq!(t.browser.call("add_byok_provider", &clash).await.status, StatusCode::CONFLICT);
    // A URL that is not one; typed models are taken as they are.
    let mut typed = add_form(&t.org, "ftp://example.com", KEY);
    typed.push(("models", "a, b"));
    let refused = t.browser.call("add_byok_provider", &typed).await;
    assert_eq!(refused.json()["details"]["field"], "base_url", "{}", refused.body);
    typed[3] = ("base_url", &base);
    let ok = t.browser.call("add_byok_provider", &typed).await;
    assert_eq!(ok.json()["models"], json!(["a", "b"]), "{}", ok.body);
    assert_eq!(t.fake.requests().iter().filter(|r| r.path == "/v1/models").count(), 1, "typed: not asked");
    assert_eq!(audit_count(&t.server, "provider.add").await, 1, "refusals leave no audit row");

    // A stale step-up asks for a new one.
    t.server.ctx.clock.advance(chrono::Duration::minutes(11));
    let mut later = add_form(&t.org, &base, KEY);
    later[1] = ("id", "later");
    let stale = t.browser.call("add_byok_provider", &later).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
    assert_eq!(stale.json()["details"]["stepUp"], "required");
}

#[tokio::test]
async fn a_package_without_byok_refuses_provider_keys() {
    let fake = FakeProvider::start().await;
    let config = format!(
        r#"{}
[[packages]]
id = "basic"
name = "Basic"
monthly_credits = 100
byok = false
"#,
        crate::sessions::providers(&fake)
    );
    let server = start_with_config(&config, |_| {}).await;
    let (mut browser, org, _) = owner_with_key(&server, &[]).await;
    let org_id = orgs::find_by_slug(&server.ctx, &org).await.unwrap().unwrap();
    plans::set_package(&server.ctx, org_id, "basic").await.unwrap();
    grants::grant_now(&server.ctx, org_id).await.unwrap();
    let base = fake.base_url();
    let refused = browser.call("add_byok_provider", &add_form(&org, &base, KEY)).await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);
    assert_eq!(refused.json()["details"]["reason"], "package_blocks");
    assert!(fake.requests().is_empty(), "the provider was never asked");
}
