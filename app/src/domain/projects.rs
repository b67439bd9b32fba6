//! Projects: named containers of an org's sessions, canvas and files.
//! Soft-deleted (`deleted_at`): a deleted project answers 404, leaves
//! lists, and frees its slug.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::types::Json;
use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::cache::Shared;
use super::paging::{Cursor, PageRequest};
use super::validate::{self, METADATA_MAX_BYTES, PROJECT_METADATA_MAX_DEPTH, SETTINGS_MAX_BYTES};
use super::{Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::model::{AppError, ErrorCode, OrgSummary, Page, ProjectView};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProject {
    #[schema(min_length = 1, max_length = 120, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: String,
    /// Empty or absent: derived from the name.
    #[serde(default)]
    #[schema(max_length = 60, pattern = r"^$|^[a-z0-9]([a-z0-9-]{0,58}[a-z0-9])?$")]
    pub slug: Option<String>,
    /// Blank is the same as none.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// A partial update: absent fields stay as they are; `description: null`
/// clears it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectPatch {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 120, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 60, pattern = r"^[a-z0-9]([a-z0-9-]{0,58}[a-z0-9])?$")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "super::validate::present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

fn check_slug(slug: &str) -> DomainResult<()> {
    let ok = (1..=60).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(AppError::validation(
            "slug",
            "slug: 1–60 lowercase letters, digits or dashes, not starting or ending with a dash",
        ))
    }
}

fn check_json(metadata: &Value, settings: &Value) -> DomainResult<()> {
    validate::json_field("metadata", metadata, METADATA_MAX_BYTES, PROJECT_METADATA_MAX_DEPTH)?;
    validate::json_field("settings", settings, SETTINGS_MAX_BYTES, PROJECT_METADATA_MAX_DEPTH)
}

fn check_description(d: Option<String>) -> DomainResult<Option<String>> {
    validate::optional_text("description", d, 2000)
}

/// The slug a project gets when none is given: from its name, or, when the
/// name has no letters or digits a slug can use, `project-<6 hex>`.
fn derived_slug(name: &str) -> String {
    let from_name: String = super::orgs::slug_from_name(name).chars().take(60).collect();
    let from_name = from_name.trim_matches('-');
    if from_name.is_empty() {
        format!("project-{}", &Uuid::new_v4().simple().to_string()[..6])
    } else {
        from_name.to_string()
    }
}

fn slug_taken() -> AppError {
    AppError::new(ErrorCode::Conflict, "Another project of this organization has that slug")
        .with_details(json!({ "field": "slug" }))
}

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: Uuid,
    slug: String,
    name: String,
    description: Option<String>,
    metadata: Json<Value>,
    settings: Json<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl ProjectRow {
    fn view(self) -> ProjectView {
        ProjectView {
            id: self.id,
            slug: self.slug,
            name: self.name,
            description: self.description,
            metadata: self.metadata.0,
            settings: self.settings.0,
            created_at: super::clock::iso(self.created_at),
            updated_at: super::clock::iso(self.updated_at),
            deleted_at: self.deleted_at.map(super::clock::iso),
        }
    }
}

const COLUMNS: &str = "id, slug, name, description, metadata, settings, created_at, updated_at, deleted_at";

/// Shared, not copied: a cached page serves many requests.
pub async fn list(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Arc<Shared<Page<ProjectView>>>> {
    let Some(cache) = &ctx.caches.project_pages else {
        return Ok(Shared::new(fetch_page(ctx, org, page).await?));
    };
    let key = (org.id, page.limit, page.after);
    let now = ctx.clock.now();
    if let Some(hit) = cache.get(&key, now) {
        return Ok(hit);
    }
    let ticket = cache.ticket();
    let fresh = Shared::new(fetch_page(ctx, org, page).await?);
    cache.put(ticket, key, fresh.clone(), now);
    Ok(fresh)
}

async fn fetch_page(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<ProjectView>> {
    let rows: Vec<ProjectRow> = super::paging::fetch_live(&ctx.db, "projects", COLUMNS, org.id, &page).await?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, ProjectRow::view))
}

/// After any write to an org's projects: its cached pages are stale.
fn forget_pages(ctx: &Ctx, org: &OrgSummary) {
    if let Some(cache) = &ctx.caches.project_pages {
        cache.invalidate(|(org_id, _, _)| *org_id == org.id);
    }
}

/// Any row of the org, deleted or not.
async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<Option<ProjectRow>> {
    let sql = format!("SELECT {COLUMNS} FROM projects WHERE org_id = $1 AND id = $2");
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?)
}

pub async fn get(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<ProjectView> {
    match find(ctx, org, id).await? {
        Some(row) if row.deleted_at.is_none() => Ok(row.view()),
        _ => Err(AppError::not_found()),
    }
}

pub async fn create(ctx: &Ctx, actor: &Actor, org: &OrgSummary, input: NewProject) -> DomainResult<ProjectView> {
    let name = validate::text("name", &input.name, 120)?;
    // Taken as sent (the document's pattern); empty means "derive it".
    let slug = match input.slug.filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => derived_slug(&name),
    };
    check_slug(&slug)?;
    let description = check_description(input.description)?;
    let metadata = input.metadata.unwrap_or_else(|| json!({}));
    let settings = input.settings.unwrap_or_else(|| json!({}));
    check_json(&metadata, &settings)?;
    let id = Uuid::new_v4();
    let now = ctx.clock.now();
    let inserted = exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO projects (id, org_id, slug, name, description, metadata, settings, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
    )
    .bind(id)
    .bind(org.id)
    .bind(&slug)
    .bind(&name)
    .bind(&description)
    .bind(Json(&metadata))
    .bind(Json(&settings))
    .bind(now)
    .execute(p)
    .await);
    match inserted {
        Err(e) if is_unique_violation(&e, "slug") => return Err(slug_taken()),
        other => other?,
    };
    forget_pages(ctx, org);
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: Some(org.id),
            action: "project.create",
            target: Some(id.to_string()),
            details: Some(json!({ "slug": slug })),
        },
    )
    .await?;
    get(ctx, org, id).await
}

pub async fn update(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    id: Uuid,
    patch: ProjectPatch,
) -> DomainResult<ProjectView> {
    let current = get(ctx, org, id).await?;
    let name = match patch.name {
        Some(n) => validate::text("name", &n, 120)?,
        None => current.name,
    };
    let slug = match patch.slug {
        Some(s) => {
            check_slug(&s)?;
            s
        }
        None => current.slug,
    };
    let description = match patch.description {
        Some(d) => check_description(d)?,
        None => current.description,
    };
    let metadata = patch.metadata.unwrap_or(current.metadata);
    let settings = patch.settings.unwrap_or(current.settings);
    check_json(&metadata, &settings)?;
    let updated = exec_on_db!(&ctx.db, |p| {
        sqlx::query(
        "UPDATE projects SET slug = $3, name = $4, description = $5, metadata = $6, settings = $7, updated_at = $8 \
         WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    )
    .bind(org.id)
    .bind(id)
    .bind(&slug)
    .bind(&name)
    .bind(&description)
    .bind(Json(&metadata))
    .bind(Json(&settings))
    .bind(ctx.clock.now())
    .execute(p)
    .await
    });
    match updated {
        Err(e) if is_unique_violation(&e, "slug") => return Err(slug_taken()),
        Ok(0) => return Err(AppError::not_found()),
        other => other?,
    };
    forget_pages(ctx, org);
    audit::record(
        ctx,
        actor.into(),
        AuditEvent { org_id: Some(org.id), action: "project.update", target: Some(id.to_string()), details: None },
    )
    .await?;
    get(ctx, org, id).await
}

/// Soft-deletes; deleting again answers the same as the first time.
pub async fn delete(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<ProjectView> {
    let Some(row) = find(ctx, org, id).await? else {
        return Err(AppError::not_found());
    };
    if row.deleted_at.is_some() {
        return Ok(row.view());
    }
    let deleted = super::paging::mark_deleted(ctx, actor, "projects", org.id, id, "project.delete").await;
    forget_pages(ctx, org);
    deleted?;
    // Its files go with it: out of the storage count now, objects swept.
    super::files::forget_project(ctx, id).await?;
    find(ctx, org, id).await?.map(ProjectRow::view).ok_or_else(AppError::not_found)
}

pub async fn count(ctx: &Ctx, org: &OrgSummary) -> DomainResult<i64> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM projects WHERE org_id = $1 AND deleted_at IS NULL"
    )
    .bind(org.id)
    .fetch_one(p)
    .await)?)
}

/// A live project of the org by its slug; none is a 404.
pub async fn get_by_slug(ctx: &Ctx, org: &OrgSummary, slug: &str) -> DomainResult<ProjectView> {
    let sql = format!("SELECT {COLUMNS} FROM projects WHERE org_id = $1 AND slug = $2 AND deleted_at IS NULL");
    let row: Option<ProjectRow> =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(slug).fetch_optional(p).await)?;
    row.map(ProjectRow::view).ok_or_else(AppError::not_found)
}
