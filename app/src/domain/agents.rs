//! Agents (SPEC §9): a model, a system prompt and limits, plus three
//! restriction lists (`tools`, `peers`, `connectors`; `null` means
//! "everything available"). Setting a restriction is privileged: a
//! browser session with a fresh step-up, never an API key, because a
//! restriction is what stands between a prompt and the org's tools.
//! Soft-deleted like projects; the package's `max_agents` caps how many
//! are live.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::billing::metering::{self, Cap};
use super::paging::{Cursor, PageRequest};
use super::{models, step_up, validate, Actor, Ctx, DomainResult};
use crate::db::{is_unique_violation, on_db};
use crate::model::{AgentView, AppError, ErrorCode, OrgSummary, Page};

pub const DEFAULT_MAX_STEPS: i64 = 10;
const SYSTEM_PROMPT_MAX_CHARS: usize = 32_000;
const MAX_LIST: usize = 100;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAgent {
    #[schema(min_length = 1, max_length = 120, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// `<provider>/<model>` from `GET /api/v1/models`.
    #[schema(min_length = 1, max_length = 200)]
    pub model: String,
    #[serde(default)]
    #[schema(max_length = 32000)]
    pub system_prompt: Option<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub fast_mode: Option<bool>,
    /// 1–50, default 10.
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    #[schema(minimum = 1, maximum = 50)]
    pub max_steps: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// Browser with step-up only. Absent or null: every tool.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Browser with step-up only. Absent or null: every agent of the project.
    #[serde(default)]
    pub peers: Option<Vec<Uuid>>,
    /// Browser with step-up only. Absent or null: every connection.
    #[serde(default)]
    pub connectors: Option<Vec<Uuid>>,
    #[serde(default)]
    pub skills: Option<Vec<Uuid>>,
}

/// A partial update: absent fields stay; `description`, `temperature`
/// and the restrictions take `null` (cleared / unrestricted).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPatch {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 120, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::validate::present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub model: Option<String>,
    #[serde(default)]
    #[schema(max_length = 32000)]
    pub system_prompt: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub fast_mode: Option<bool>,
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    #[schema(minimum = 1, maximum = 50)]
    pub max_steps: Option<i64>,
    #[serde(default, deserialize_with = "super::validate::present")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 2)]
    pub temperature: Option<Option<f64>>,
    #[serde(default, deserialize_with = "super::validate::present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tools: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "super::validate::present")]
    #[schema(value_type = Option<Vec<Uuid>>)]
    pub peers: Option<Option<Vec<Uuid>>>,
    #[serde(default, deserialize_with = "super::validate::present")]
    #[schema(value_type = Option<Vec<Uuid>>)]
    pub connectors: Option<Option<Vec<Uuid>>>,
    #[serde(default)]
    pub skills: Option<Vec<Uuid>>,
}

impl AgentPatch {
    fn touches_restrictions(&self) -> bool {
        self.tools.is_some() || self.peers.is_some() || self.connectors.is_some()
    }
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    model: String,
    system_prompt: String,
    enabled: bool,
    fast_mode: bool,
    max_steps: i64,
    temperature: Option<f64>,
    tools: Option<Json<Vec<String>>>,
    peers: Option<Json<Vec<Uuid>>>,
    connectors: Option<Json<Vec<Uuid>>>,
    skills: Json<Vec<Uuid>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl AgentRow {
    fn view(self) -> AgentView {
        AgentView {
            id: self.id,
            name: self.name,
            description: self.description,
            model: self.model,
            system_prompt: self.system_prompt,
            enabled: self.enabled,
            fast_mode: self.fast_mode,
            max_steps: self.max_steps,
            temperature: self.temperature,
            tools: self.tools.map(|j| j.0),
            peers: self.peers.map(|j| j.0),
            connectors: self.connectors.map(|j| j.0),
            skills: self.skills.0,
            created_at: super::clock::iso(self.created_at),
            updated_at: super::clock::iso(self.updated_at),
            deleted_at: self.deleted_at.map(super::clock::iso),
        }
    }
}

const COLUMNS: &str = "id, name, description, model, system_prompt, enabled, fast_mode, max_steps, temperature, \
                       tools, peers, connectors, skills, created_at, updated_at, deleted_at";

/// The checked values of an agent, as written.
struct Fields {
    name: String,
    description: Option<String>,
    model: String,
    system_prompt: String,
    enabled: bool,
    fast_mode: bool,
    max_steps: i64,
    temperature: Option<f64>,
    tools: Option<Vec<String>>,
    peers: Option<Vec<Uuid>>,
    connectors: Option<Vec<Uuid>>,
    skills: Vec<Uuid>,
}

fn name_taken() -> AppError {
    AppError::new(ErrorCode::Conflict, "Another agent of this organization has that name")
        .with_details(json!({ "field": "name" }))
}

fn check_max_steps(n: i64) -> DomainResult<i64> {
    if (1..=50).contains(&n) {
        Ok(n)
    } else {
        Err(AppError::validation("maxSteps", "maxSteps must be between 1 and 50"))
    }
}

fn check_temperature(t: Option<f64>) -> DomainResult<Option<f64>> {
    match t {
        Some(t) if !(0.0..=2.0).contains(&t) => {
            Err(AppError::validation("temperature", "temperature must be between 0 and 2"))
        }
        other => Ok(other),
    }
}

fn check_tools(tools: Option<Vec<String>>) -> DomainResult<Option<Vec<String>>> {
    let Some(tools) = tools else { return Ok(None) };
    if tools.len() > MAX_LIST {
        return Err(AppError::validation("tools", format!("tools: at most {MAX_LIST} names")));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tools {
        let ok = (1..=64).contains(&t.len())
            && t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !ok {
            return Err(AppError::validation(
                "tools",
                format!("tools: {t:?} is not a tool name (lowercase letters, digits, _ and .)"),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(Some(out))
}

/// The model must be one the org may run now. One it may not is a 404,
/// like every reference in a body that names nothing the org has.
async fn check_model(ctx: &Ctx, org: &OrgSummary, model: &str) -> DomainResult<String> {
    let model = model.trim();
    if models::available(ctx, org).await?.iter().any(|m| m.id == model) {
        Ok(model.to_string())
    } else {
        Err(AppError::new(
            ErrorCode::NotFound,
            format!("model: {model:?} is not a model this organization may run; see GET /api/v1/models"),
        )
        .with_details(json!({ "field": "model" })))
    }
}

/// Peers are live agents of the same org (another org's id is a 404, as
/// everywhere); connectors and skills arrive with their capabilities, so
/// for now any id names nothing.
async fn check_references(
    ctx: &Ctx,
    org: &OrgSummary,
    this: Option<Uuid>,
    peers: &Option<Vec<Uuid>>,
    connectors: &Option<Vec<Uuid>>,
    skills: &[Uuid],
) -> DomainResult<()> {
    if let Some(peers) = peers {
        if peers.len() > MAX_LIST {
            return Err(AppError::validation("peers", format!("peers: at most {MAX_LIST} agents")));
        }
        for peer in peers {
            if Some(*peer) == this {
                return Err(AppError::validation("peers", "peers: an agent cannot be its own peer"));
            }
            get(ctx, org, *peer).await?;
        }
    }
    if connectors.as_ref().is_some_and(|c| !c.is_empty()) || !skills.is_empty() {
        return Err(AppError::not_found());
    }
    Ok(())
}

fn dedup(ids: Option<Vec<Uuid>>) -> Option<Vec<Uuid>> {
    ids.map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|id| seen.insert(*id));
        v
    })
}

pub async fn list(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<AgentView>> {
    let rows: Vec<AgentRow> = super::paging::fetch_live(&ctx.db, "agents", COLUMNS, org.id, &page).await?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, AgentRow::view))
}

/// The agents page's list: the newest `MAX_LIMIT` live agents, kept by
/// `caches.agents`.
pub async fn list_for_page(ctx: &Ctx, org: &OrgSummary) -> DomainResult<std::sync::Arc<Page<AgentView>>> {
    super::cache::through(&ctx.caches.agents, org.id, ctx.clock.now(), || async {
        let page = PageRequest::parse(Some(super::paging::MAX_LIMIT), None)?;
        Ok(std::sync::Arc::new(list(ctx, org, page).await?))
    })
    .await
}

/// The ids of the org's live agents with these names, in order; a name
/// that is none of them is a 422 on `peers`.
pub async fn ids_by_name(ctx: &Ctx, org: &OrgSummary, names: &[String]) -> DomainResult<Vec<Uuid>> {
    let mut ids = Vec::new();
    for name in names {
        let id: Option<Uuid> = on_db!(&ctx.db, |p| sqlx::query_scalar(
            "SELECT id FROM agents WHERE org_id = $1 AND name = $2 AND deleted_at IS NULL"
        )
        .bind(org.id)
        .bind(name)
        .fetch_optional(p)
        .await)?;
        ids.push(id.ok_or_else(|| AppError::validation("peers", format!("peers: no agent is named {name:?}")))?);
    }
    Ok(ids)
}

async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<Option<AgentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE org_id = $1 AND id = $2");
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?)
}

/// A live agent of the org. Read before every run (kept by
/// `caches.agent` on SQLite: one trip less before the first token).
pub async fn get(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<AgentView> {
    let live = super::cache::through(&ctx.caches.agent, (org.id, id), ctx.clock.now(), || async {
        Ok::<_, AppError>(find(ctx, org, id).await?.filter(|row| row.deleted_at.is_none()).map(AgentRow::view))
    })
    .await?;
    live.ok_or_else(AppError::not_found)
}

pub async fn create(ctx: &Ctx, actor: &Actor, org: &OrgSummary, input: NewAgent) -> DomainResult<AgentView> {
    if input.tools.is_some() || input.peers.is_some() || input.connectors.is_some() {
        step_up::require_browser_step_up(ctx, actor)?;
    }
    let skills = dedup(input.skills).unwrap_or_default();
    let fields = Fields {
        name: validate::text("name", &input.name, 120)?,
        description: validate::optional_text("description", input.description, 2000)?,
        model: check_model(ctx, org, &input.model).await?,
        system_prompt: input.system_prompt.map_or(Ok(String::new()), |p| {
            validate::optional_text("systemPrompt", Some(p), SYSTEM_PROMPT_MAX_CHARS).map(Option::unwrap_or_default)
        })?,
        enabled: input.enabled.unwrap_or(true),
        fast_mode: input.fast_mode.unwrap_or(false),
        max_steps: check_max_steps(input.max_steps.unwrap_or(DEFAULT_MAX_STEPS))?,
        temperature: check_temperature(input.temperature)?,
        tools: check_tools(input.tools)?,
        peers: dedup(input.peers),
        connectors: dedup(input.connectors),
        skills,
    };
    check_references(ctx, org, None, &fields.peers, &fields.connectors, &fields.skills).await?;
    let id = Uuid::new_v4();
    insert_within_cap(ctx, actor, org, id, &fields).await?;
    get(ctx, org, id).await
}

/// Counts and inserts in one transaction that first takes the org's row
/// lock (an update of the org row: a row lock on PostgreSQL, the write
/// lock on SQLite), so two creates racing for the last slot cannot both
/// get it.
async fn insert_within_cap(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid, f: &Fields) -> DomainResult<()> {
    let now = ctx.clock.now();
    let result: DomainResult<()> = on_db!(&ctx.db, |p| {
        async {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE orgs SET name = name WHERE id = $1").bind(org.id).execute(&mut *tx).await?;
            let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE org_id = $1 AND deleted_at IS NULL")
                .bind(org.id)
                .fetch_one(&mut *tx)
                .await?;
            metering::require_within_cap(ctx, org.id, Cap::Agents, live).await?;
            let inserted = sqlx::query(
                "INSERT INTO agents (id, org_id, name, description, model, system_prompt, enabled, fast_mode, max_steps, \
                 temperature, tools, peers, connectors, skills, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
            )
            .bind(id)
            .bind(org.id)
            .bind(&f.name)
            .bind(&f.description)
            .bind(&f.model)
            .bind(&f.system_prompt)
            .bind(f.enabled)
            .bind(f.fast_mode)
            .bind(f.max_steps)
            .bind(f.temperature)
            .bind(f.tools.as_ref().map(Json))
            .bind(f.peers.as_ref().map(Json))
            .bind(f.connectors.as_ref().map(Json))
            .bind(Json(&f.skills))
            .bind(actor.user_id())
            .bind(now)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(e) if is_unique_violation(&e, "name") => return Err(name_taken()),
                other => other?,
            };
            let event = AuditEvent {
                org_id: Some(org.id),
                action: "agent.create",
                target: Some(id.to_string()),
                details: Some(json!({ "name": f.name, "model": f.model })),
            };
            audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
            tx.commit().await?;
            Ok(())
        }
        .await
    });
    result
}

pub async fn update(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    id: Uuid,
    patch: AgentPatch,
) -> DomainResult<AgentView> {
    let restricted = patch.touches_restrictions();
    if restricted {
        step_up::require_browser_step_up(ctx, actor)?;
    }
    let current = get(ctx, org, id).await?;
    let model = match patch.model {
        Some(m) if m.trim() != current.model => check_model(ctx, org, &m).await?,
        _ => current.model,
    };
    let fields = Fields {
        name: match patch.name {
            Some(n) => validate::text("name", &n, 120)?,
            None => current.name,
        },
        description: match patch.description {
            Some(d) => validate::optional_text("description", d, 2000)?,
            None => current.description,
        },
        model,
        system_prompt: match patch.system_prompt {
            Some(p) => validate::optional_text("systemPrompt", Some(p), SYSTEM_PROMPT_MAX_CHARS)?.unwrap_or_default(),
            None => current.system_prompt,
        },
        enabled: patch.enabled.unwrap_or(current.enabled),
        fast_mode: patch.fast_mode.unwrap_or(current.fast_mode),
        max_steps: check_max_steps(patch.max_steps.unwrap_or(current.max_steps))?,
        temperature: check_temperature(patch.temperature.unwrap_or(current.temperature))?,
        tools: match patch.tools {
            Some(t) => check_tools(t)?,
            None => current.tools,
        },
        peers: patch.peers.map_or(current.peers, dedup),
        connectors: patch.connectors.map_or(current.connectors, dedup),
        skills: patch.skills.map_or(current.skills, |s| dedup(Some(s)).unwrap_or_default()),
    };
    check_references(ctx, org, Some(id), &fields.peers, &fields.connectors, &fields.skills).await?;
    let f = &fields;
    let now = ctx.clock.now();
    let result: DomainResult<()> = on_db!(&ctx.db, |p| {
        async {
            let mut tx = p.begin().await?;
            let updated = sqlx::query(
                "UPDATE agents SET name = $3, description = $4, model = $5, system_prompt = $6, enabled = $7, \
                 fast_mode = $8, max_steps = $9, temperature = $10, tools = $11, peers = $12, connectors = $13, \
                 skills = $14, updated_at = $15 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
            )
            .bind(org.id)
            .bind(id)
            .bind(&f.name)
            .bind(&f.description)
            .bind(&f.model)
            .bind(&f.system_prompt)
            .bind(f.enabled)
            .bind(f.fast_mode)
            .bind(f.max_steps)
            .bind(f.temperature)
            .bind(f.tools.as_ref().map(Json))
            .bind(f.peers.as_ref().map(Json))
            .bind(f.connectors.as_ref().map(Json))
            .bind(Json(&f.skills))
            .bind(now)
            .execute(&mut *tx)
            .await;
            match updated {
                Err(e) if is_unique_violation(&e, "name") => return Err(name_taken()),
                Ok(r) if r.rows_affected() == 0 => return Err(AppError::not_found()),
                other => other?,
            };
            // Restriction changes are the privileged part: say so.
            let action = if restricted { "agent.restrictions_change" } else { "agent.update" };
            let details = restricted.then(|| json!({ "tools": f.tools, "peers": f.peers, "connectors": f.connectors }));
            let event = AuditEvent { org_id: Some(org.id), action, target: Some(id.to_string()), details };
            audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
            tx.commit().await?;
            Ok(())
        }
        .await
    });
    result?;
    get(ctx, org, id).await
}

/// Soft-deletes; deleting again answers the same as the first time.
pub async fn delete(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<AgentView> {
    let Some(row) = find(ctx, org, id).await? else {
        return Err(AppError::not_found());
    };
    if row.deleted_at.is_some() {
        return Ok(row.view());
    }
    super::paging::mark_deleted(ctx, actor, "agents", org.id, id, "agent.delete").await?;
    find(ctx, org, id).await?.map(AgentRow::view).ok_or_else(AppError::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_checked_and_deduplicated() {
        assert_eq!(check_tools(None).unwrap(), None);
        let tools = check_tools(Some(vec!["list_agents".into(), "canvas.write".into(), "list_agents".into()])).unwrap();
        assert_eq!(tools.unwrap(), ["list_agents", "canvas.write"]);
        let bad = check_tools(Some(vec!["Rm -rf".into()])).unwrap_err();
        assert_eq!(bad.field(), Some("tools"));
        assert_eq!(check_max_steps(0).unwrap_err().field(), Some("maxSteps"));
        assert!(check_max_steps(50).is_ok());
        assert_eq!(check_temperature(Some(2.5)).unwrap_err().field(), Some("temperature"));
    }
}
