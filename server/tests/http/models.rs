//! `GET /api/v1/models`: the operator's `[[providers]]` with their prices,
//! hidden from orgs whose package has no managed models; a discovered
//! Ollama (a stand-in speaking its `/api/tags`) at 0 credits; the
//! `models:read` scope enforced.

use reqwest::StatusCode;
use serde_json::json;

use app::domain::{api_keys, orgs, Actor};

use crate::support::*;

const PROVIDERS: &str = r#"
[[providers]]
id = "openai"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[providers.models]]
id = "gpt-4.1"
name = "GPT-4.1"
context_window = 1047576
input_credits_per_mtok = 200
output_credits_per_mtok = 800.5
fast_sibling = "gpt-4.1-mini"

[[providers.models]]
id = "gpt-4.1-mini"
name = "GPT-4.1 mini"
input_credits_per_mtok = 0.4
output_credits_per_mtok = 1.6
"#;

async fn org_id(server: &TestServer, slug: &str) -> uuid::Uuid {
    orgs::find_by_slug(&server.ctx, slug).await.unwrap().expect("the org exists")
}

fn ids(answer: &Answer) -> Vec<String> {
    data(answer)["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_operators_models_are_listed_with_their_prices_for_packages_with_managed_models() {
    let server = start_with_config(PROVIDERS, |_| {}).await;
    let (_, org, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));

    // The test catalogue's default package ("free") has no managed models.
    let free = api.get("/models").await;
    assert_eq!(free.status, StatusCode::OK, "{}", free.body);
    assert!(ids(&free).is_empty(), "{}", free.body);
    assert_eq!(data(&free)["hasMore"], false);

    app::domain::billing::plans::set_package(&server.ctx, org_id(&server, &org).await, "pro").await.unwrap();
    let pro = api.get("/models").await;
    assert_eq!(ids(&pro), ["openai/gpt-4.1", "openai/gpt-4.1-mini"]);
    // Pages like every list.
    let one = api.get("/models?limit=1").await;
    assert_eq!(ids(&one), ["openai/gpt-4.1"]);
    let next = data(&one)["nextCursor"].as_str().unwrap().to_string();
    let rest = api.get(&format!("/models?limit=1&cursor={next}")).await;
    assert_eq!(ids(&rest), ["openai/gpt-4.1-mini"]);
    assert_eq!(data(&rest)["hasMore"], false);
    let first = &data(&pro)["items"][0];
    assert_eq!(
        *first,
        json!({
            "id": "openai/gpt-4.1", "name": "GPT-4.1", "provider": "openai", "byok": false,
            "contextWindow": 1047576, "inputCreditsPerMtok": "200", "outputCreditsPerMtok": "800.5",
            "fastSibling": "openai/gpt-4.1-mini"
        })
    );
}

#[tokio::test]
async fn a_key_without_models_read_is_refused() {
    let server = start().await;
    let (_, org, _) = owner_with_key(&server, &[]).await;
    let owner = app::on_db!(&server.ctx.db, |p| sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT user_id FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE o.slug = $1"
    )
    .bind(&org)
    .fetch_one(p)
    .await)
    .unwrap();
    let summary = orgs::membership(&server.ctx.db, owner, &org).await.unwrap();
    let terminal_only =
        api_keys::issue(&server.ctx, &Actor::Cli { user_id: owner }, &summary, "cli", &["terminal".to_string()])
            .await
            .unwrap();
    let refused = Api::new(&server, Some(&terminal_only.secret)).get("/models").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&refused), "FORBIDDEN");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("models:read"), "{}", refused.body);
}

#[tokio::test]
async fn without_providers_a_discovered_ollama_offers_its_models_at_zero_credits() {
    let url = fake_ollama(json!([
        { "name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189,
          "details": { "family": "llama", "parameter_size": "3.2B" } },
        { "name": "qwen2.5-coder:7b", "model": "qwen2.5-coder:7b" }
    ]))
    .await;
    let server = start_with(|s| s.ollama_url = Some(url)).await;
    // Free package, no managed models: Ollama's are not metered, so they stay.
    let (mut b, org, key) = owner_with_key(&server, &[]).await;
    let listed = Api::new(&server, Some(&key)).get("/models").await;
    assert_eq!(ids(&listed), ["ollama/llama3.2:latest", "ollama/qwen2.5-coder:7b"], "{}", listed.body);
    // The agents page lists them.
    let page = b.page(&format!("/{org}/agents")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ollama/qwen2.5-coder:7b") && page.body.contains("free"), "{}", page.body);
    assert!(!page.body.contains("No model provider is configured"));
    let first = &data(&listed)["items"][0];
    assert_eq!(first["provider"], "ollama");
    assert_eq!(first["inputCreditsPerMtok"], "0");
    assert_eq!(first["outputCreditsPerMtok"], "0");
}

#[tokio::test]
async fn with_no_provider_at_all_the_catalogue_is_empty() {
    // Discovery on, but nothing answers at that address.
    let server = start_with(|s| s.ollama_url = Some("http://127.0.0.1:9".into())).await;
    let (mut b, org, key) = owner_with_key(&server, &[]).await;
    let listed = Api::new(&server, Some(&key)).get("/models").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(ids(&listed).is_empty());
    // The agents page says so, and how to add one.
    let page = b.page(&format!("/{org}/agents")).await;
    assert!(page.body.contains("No model provider is configured on this server."), "{}", page.body);
    assert!(page.body.contains("[[providers]]"));
}
