//! An org's own model providers (BYOK, SPEC §9): kind, base URL, API key
//! and models, added and removed by owners and admins from a stepped-up
//! browser. The key is sealed with the master key and shown only as its
//! last four characters; it leaves the server only toward the provider's
//! own base URL. Calls on these models cost 0 credits, and only when the
//! org's package allows BYOK.
//!
//! Each provider gets an id of the org's choosing (`my-openai`), so its
//! models are named `<id>/<model>` like the operator's; an id an operator
//! provider (or Ollama) already uses is refused, so a name always means
//! one provider.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::billing::plans;
use super::models::{ApiKey, Model, Price, Provider, ProviderKind, OLLAMA};
use super::orgs::require_role;
use super::{step_up, Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::domain::clock::iso;
use crate::model::{AppError, ByokProviderView, ErrorCode, OrgSummary, Role};

/// What the sealed key is for (the sealer binds it to this purpose).
const KEY_PURPOSE: &str = "byok-provider-key";
const MAX_MODELS: usize = 200;
/// Anthropic's API version header, as the chat client sends it.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The add form.
#[derive(Debug, Clone)]
pub struct NewProvider {
    pub id: String,
    /// `openai` or `anthropic`.
    pub kind: String,
    pub base_url: String,
    pub api_key: String,
    /// Model ids typed in; empty: read from the provider's `/models`.
    pub models: Vec<String>,
}

/// A provider as stored, its key sealed (cached as read: `Caches::byok`).
#[derive(Clone, sqlx::FromRow)]
pub struct Row {
    id: Uuid,
    slug: String,
    kind: String,
    base_url: String,
    sealed_key: String,
    key_last4: String,
    models: sqlx::types::Json<Vec<String>>,
    created_at: DateTime<Utc>,
}

impl Row {
    fn view(self) -> ByokProviderView {
        ByokProviderView {
            id: self.id,
            provider: self.slug,
            kind: self.kind,
            base_url: self.base_url,
            key_last4: self.key_last4,
            models: self.models.0,
            created_at: iso(self.created_at),
        }
    }
}

const COLUMNS: &str = "id, slug, kind, base_url, sealed_key, key_last4, models, created_at";

/// The org's providers, through the cache: the agents page and every run
/// read them, and they change rarely.
async fn rows(ctx: &Ctx, org_id: Uuid) -> DomainResult<Arc<Vec<Row>>> {
    let now = ctx.clock.now();
    if let Some(rows) = ctx.caches.byok.get(&org_id, now) {
        return Ok(rows);
    }
    let ticket = ctx.caches.byok.ticket();
    let sql = format!("SELECT {COLUMNS} FROM org_providers WHERE org_id = $1 ORDER BY slug");
    let rows: Vec<Row> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org_id).fetch_all(p).await)?;
    let rows = Arc::new(rows);
    ctx.caches.byok.put(ticket, org_id, rows.clone(), now);
    Ok(rows)
}

/// After adding or removing one of the org's providers.
fn forget_rows(ctx: &Ctx, org_id: Uuid) {
    ctx.caches.byok.invalidate(|k| *k == org_id);
}

/// The org's providers, as members see them (never the key).
pub async fn list(ctx: &Ctx, org: &OrgSummary) -> DomainResult<Vec<ByokProviderView>> {
    Ok(rows(ctx, org.id).await?.iter().cloned().map(Row::view).collect())
}

fn kind_of(text: &str) -> Option<ProviderKind> {
    match text {
        "openai" => Some(ProviderKind::OpenAi),
        "anthropic" => Some(ProviderKind::Anthropic),
        _ => None,
    }
}

/// The org's providers as the runtime calls them, keys opened; a key the
/// master key no longer opens (a rotated master key) leaves its provider
/// out, with a warning, rather than failing every run of the org.
pub async fn providers(ctx: &Ctx, org_id: Uuid) -> DomainResult<Vec<Provider>> {
    let mut out = Vec::new();
    for row in rows(ctx, org_id).await?.iter() {
        let Some(kind) = kind_of(&row.kind) else { continue };
        let key = match ctx.sealer.open(KEY_PURPOSE, &row.sealed_key) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => {
                tracing::warn!(provider = %row.slug, "a BYOK provider's key could not be opened with the master key");
                continue;
            }
        };
        out.push(Provider {
            id: row.slug.clone(),
            kind,
            base_url: row.base_url.clone(),
            api_key: Some(ApiKey(key)),
            managed: false,
            byok: true,
            models: row.models.0.iter().cloned().map(free_model).collect(),
        });
    }
    Ok(out)
}

fn free_model(id: String) -> Model {
    Model {
        name: id.clone(),
        id,
        context_window: None,
        input_price: Price(0),
        output_price: Price(0),
        fast_sibling: None,
    }
}

fn valid_id(id: &str) -> bool {
    (2..=40).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

fn check_base_url(text: &str) -> DomainResult<String> {
    let url = text.trim().trim_end_matches('/').to_string();
    let parsed = reqwest::Url::parse(&url).map_err(|_| AppError::validation("base_url", "Base URL: not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::validation("base_url", "Base URL: it starts with https:// (or http://)"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AppError::validation("base_url", "Base URL: put the key in the API key field, not in the URL"));
    }
    Ok(url)
}

fn check_models(models: Vec<String>) -> DomainResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in models.into_iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()) {
        if m.len() > 200 || m.contains(char::is_whitespace) {
            return Err(AppError::validation("models", format!("models: {m:?} is not a model id")));
        }
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.len() > MAX_MODELS {
        return Err(AppError::validation("models", format!("models: at most {MAX_MODELS}")));
    }
    Ok(out)
}

/// Adds a provider: owners and admins, from a browser stepped up within
/// the window, when the package allows BYOK. Without typed models, the
/// provider's `/models` is asked with the key (which also checks it).
pub async fn add(ctx: &Ctx, actor: &Actor, slug: &str, input: NewProvider) -> DomainResult<ByokProviderView> {
    // The audit row records the step-up's time with the actor.
    step_up::require_browser_step_up(ctx, actor)?;
    let org = require_role(ctx, actor, slug, Role::Admin).await?;
    let package = plans::package_of(ctx, org.id).await?;
    if ctx.billing.metered && !package.byok {
        return Err(AppError::new(
            ErrorCode::PaymentRequired,
            format!("The {} package does not include your own model keys", package.name),
        )
        .with_details(json!({ "reason": "package_blocks" })));
    }
    let id = input.id.trim().to_string();
    if !valid_id(&id) {
        return Err(AppError::validation("id", "id: 2–40 lowercase letters, digits or dashes, such as my-openai"));
    }
    if id == OLLAMA || ctx.models.operator().iter().any(|p| p.id == id) {
        return Err(AppError::new(ErrorCode::Conflict, format!("{id:?} is the id of a provider this server offers")));
    }
    let kind = kind_of(input.kind.trim())
        .ok_or_else(|| AppError::validation("kind", "kind must be openai (any OpenAI-compatible API) or anthropic"))?;
    let base_url = check_base_url(&input.base_url)?;
    let key = input.api_key.trim().to_string();
    if key.len() < 8 || key.len() > 500 || key.contains(char::is_whitespace) {
        return Err(AppError::validation("api_key", "API key: paste the provider's API key"));
    }
    let mut models = check_models(input.models)?;
    if models.is_empty() {
        models = fetch_models(&ctx.http, kind, &base_url, &key).await?;
    }
    if models.is_empty() {
        return Err(AppError::validation("models", "models: the provider listed none; type the model ids"));
    }
    let last4: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let sealed = ctx.sealer.seal(KEY_PURPOSE, key.as_bytes());
    let row_id = Uuid::new_v4();
    let now = ctx.clock.now();
    let inserted = exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO org_providers (id, org_id, slug, kind, base_url, sealed_key, key_last4, models, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(row_id)
    .bind(org.id)
    .bind(&id)
    .bind(input.kind.trim())
    .bind(&base_url)
    .bind(&sealed)
    .bind(&last4)
    .bind(sqlx::types::Json(&models))
    .bind(actor.user_id())
    .bind(now)
    .execute(p)
    .await);
    match inserted {
        Err(e) if is_unique_violation(&e, "slug") => {
            return Err(AppError::new(ErrorCode::Conflict, format!("This organization already has a provider {id:?}")));
        }
        other => other?,
    };
    forget_rows(ctx, org.id);
    let event = AuditEvent {
        org_id: Some(org.id),
        action: "provider.add",
        target: Some(id.clone()),
        details: Some(json!({
            "kind": input.kind.trim(), "baseUrl": base_url, "keyLast4": last4, "models": models.len(),
        })),
    };
    audit::record(ctx, actor.into(), event).await?;
    let sql = format!("SELECT {COLUMNS} FROM org_providers WHERE id = $1");
    let row: Row = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(row_id).fetch_one(p).await)?;
    Ok(row.view())
}

/// Removes a provider; agents on its models stop running until they are
/// given another model (their runs say so).
pub async fn remove(ctx: &Ctx, actor: &Actor, slug: &str, id: Uuid) -> DomainResult<()> {
    step_up::require_browser_step_up(ctx, actor)?;
    let org = require_role(ctx, actor, slug, Role::Admin).await?;
    let provider: Option<String> =
        on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT slug FROM org_providers WHERE org_id = $1 AND id = $2")
            .bind(org.id)
            .bind(id)
            .fetch_optional(p)
            .await)?;
    let provider = provider.ok_or_else(AppError::not_found)?;
    exec_on_db!(&ctx.db, |p| sqlx::query("DELETE FROM org_providers WHERE org_id = $1 AND id = $2")
        .bind(org.id)
        .bind(id)
        .execute(p)
        .await)?;
    forget_rows(ctx, org.id);
    let event = AuditEvent { org_id: Some(org.id), action: "provider.remove", target: Some(provider), details: None };
    audit::record(ctx, actor.into(), event).await
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ListedModel>,
}

#[derive(Deserialize)]
struct ListedModel {
    id: String,
}

/// The provider's model ids from `GET <base>/models` (OpenAI's and
/// Anthropic's shape alike: `{data: [{id}]}`), sorted. A refusal of the
/// key or an unreachable server is a validation error that says which,
/// never echoing the key.
pub async fn fetch_models(
    http: &reqwest::Client,
    kind: ProviderKind,
    base_url: &str,
    key: &str,
) -> DomainResult<Vec<String>> {
    let request = http.get(format!("{base_url}/models")).timeout(Duration::from_secs(10));
    let request = match kind {
        ProviderKind::OpenAi => request.bearer_auth(key),
        ProviderKind::Anthropic => {
            request.header("x-api-key", key).header("anthropic-version", ANTHROPIC_VERSION).query(&[("limit", "1000")])
        }
    };
    let unreachable =
        |_| AppError::validation("base_url", format!("The provider at {base_url} did not answer; check the base URL"));
    let answer = request.send().await.map_err(unreachable)?;
    let status = answer.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(AppError::validation("api_key", "The provider refused the API key"));
    }
    if !status.is_success() {
        return Err(AppError::validation(
            "models",
            format!("The provider's model list answered {status}; type the model ids instead"),
        ));
    }
    let listed: ModelList = answer.json().await.map_err(|_| {
        AppError::validation("models", "The provider's model list was not in the expected shape; type the model ids")
    })?;
    let mut ids: Vec<String> = listed.data.into_iter().map(|m| m.id).collect();
    ids.sort();
    check_models(ids.into_iter().take(MAX_MODELS).collect())
}
