//! Workspaces: where an org's agents run. Listing is open to keys and
//! sessions; creating and deleting are browser-only (SPEC §4).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::paging::{Cursor, PageRequest};
use super::{validate, Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db};
use crate::model::{AppError, ErrorCode, OrgSummary, Page, WorkspaceView};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWorkspace {
    #[schema(min_length = 1, max_length = 80, pattern = r"[^\s\u001c-\u001f\u0085\ufeff]")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl WorkspaceRow {
    fn view(self) -> WorkspaceView {
        WorkspaceView {
            id: self.id,
            name: self.name,
            description: self.description,
            created_by: self.created_by,
            created_at: super::clock::iso(self.created_at),
            deleted_at: self.deleted_at.map(super::clock::iso),
        }
    }
}

const COLUMNS: &str = "id, name, description, created_by, created_at, deleted_at";

pub async fn list(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<WorkspaceView>> {
    let rows: Vec<WorkspaceRow> = super::paging::fetch_live(&ctx.db, "workspaces", COLUMNS, org.id, &page).await?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, WorkspaceRow::view))
}

async fn find(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<Option<WorkspaceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM workspaces WHERE org_id = $1 AND id = $2");
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).bind(id).fetch_optional(p).await)?)
}

pub async fn create(ctx: &Ctx, actor: &Actor, org: &OrgSummary, input: NewWorkspace) -> DomainResult<WorkspaceView> {
    let browser = super::step_up::require_browser_step_up(ctx, actor)?;
    let name = validate::text("name", &input.name, 80)?;
    let description = validate::optional_text("description", input.description, 500)?;
    let id = Uuid::new_v4();
    let inserted = exec_on_db!(&ctx.db, |p| {
        sqlx::query(
        "INSERT INTO workspaces (id, org_id, name, description, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id)
    .bind(org.id)
    .bind(&name)
    .bind(&description)
    .bind(browser.user_id)
    .bind(ctx.clock.now())
    .execute(p)
    .await
    });
    match inserted {
        Err(e) if is_unique_violation(&e, "name") => {
            return Err(AppError::new(ErrorCode::Conflict, "A workspace with that name already exists")
                .with_details(json!({ "field": "name" })))
        }
        other => other?,
    };
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: Some(org.id),
            action: "workspace.create",
            target: Some(id.to_string()),
            details: Some(json!({ "name": name })),
        },
    )
    .await?;
    find(ctx, org, id).await?.map(WorkspaceRow::view).ok_or_else(AppError::not_found)
}

/// Soft-deletes; deleting again answers the same as the first time.
pub async fn delete(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<WorkspaceView> {
    super::step_up::require_browser_step_up(ctx, actor)?;
    let row = find(ctx, org, id).await?.ok_or_else(AppError::not_found)?;
    if row.deleted_at.is_some() {
        return Ok(row.view());
    }
    super::paging::mark_deleted(ctx, actor, "workspaces", org.id, id, "workspace.delete").await?;
    find(ctx, org, id).await?.map(WorkspaceRow::view).ok_or_else(AppError::not_found)
}

/// A live workspace of the org; another org's, or a deleted one, is a 404.
pub async fn get(ctx: &Ctx, org: &OrgSummary, id: Uuid) -> DomainResult<WorkspaceView> {
    match find(ctx, org, id).await? {
        Some(row) if row.deleted_at.is_none() => Ok(row.view()),
        _ => Err(AppError::not_found()),
    }
}
