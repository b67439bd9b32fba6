//! Organizations: creation with a slug, membership lookup, the switcher.

use std::sync::Arc;

use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::{Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, is_unique_violation, on_db, Db};
use crate::model::{AppError, OrgContext, OrgOverview, OrgSummary, Role};

/// Words that are, or may become, top-level paths of the product.
pub const RESERVED_SLUGS: &[&str] = &[
    "api",
    "share",
    "frames",
    "files",
    "pkg",
    "settings",
    "login",
    "step-up",
    "webauthn.js",
    "payments.js",
    "logout",
    "signup",
    "signin",
    "new",
    "invite",
    "invites",
    "healthz",
    "readyz",
    "metrics",
    "admin",
    "static",
    "assets",
    "public",
    "favicon.ico",
    "orgs",
    "org",
    "account",
    "accounts",
    "auth",
    "oauth",
    "webhooks",
    "docs",
    "mcp",
    "fn",
    "app",
    "dashboard",
    "help",
    "support",
    "status",
    "billing",
    "www",
    "root",
    "system",
];

pub fn validate_slug(slug: &str) -> DomainResult<()> {
    let len = slug.len();
    if !(3..=40).contains(&len) {
        return Err(AppError::validation("slug", "The slug must be 3 to 40 characters long"));
    }
    if !slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(AppError::validation("slug", "Use only lowercase letters, digits and dashes in the slug"));
    }
    if slug.starts_with('-') || slug.ends_with('-') {
        return Err(AppError::validation("slug", "The slug cannot start or end with a dash"));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(AppError::validation("slug", format!("\"{slug}\" is reserved; choose another slug")));
    }
    Ok(())
}

/// A slug proposal from a name: "Acme Robotics!" → "acme-robotics".
pub fn slug_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect::<String>().trim_end_matches('-').to_string()
}

fn validate_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "Give the organization a name"));
    }
    if name.chars().count() > 80 {
        return Err(AppError::validation("name", "Keep the name under 80 characters"));
    }
    Ok(name.to_string())
}

pub async fn create_org(ctx: &Ctx, actor: &Actor, name: &str, slug: &str) -> DomainResult<OrgSummary> {
    let name = validate_name(name)?;
    let slug = if slug.trim().is_empty() { slug_from_name(&name) } else { slug.trim().to_string() };
    validate_slug(&slug)?;
    let org_id = Uuid::new_v4();
    let user_id = actor.user_id();
    let now = ctx.clock.now();
    let result: DomainResult<()> = on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO orgs (id, slug, name, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(org_id)
        .bind(&slug)
        .bind(&name)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(err) = inserted {
            return Err(if is_unique_violation(&err, "slug") {
                AppError::validation("slug", "That slug is taken; choose another")
            } else {
                err.into()
            });
        }
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(org_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let event =
            AuditEvent { org_id: Some(org_id), action: "org.create", target: Some(slug.clone()), details: None };
        audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
        tx.commit().await?;
        Ok(())
    }
    .await);
    result?;
    forget_viewer(ctx, user_id);
    // Its first monthly grant at once, rather than at the worker's next
    // pass; should this fail, that pass grants it.
    if let Err(err) = super::billing::grants::grant_now(ctx, org_id).await {
        tracing::warn!(error = ?err, "could not credit a new org's monthly grant");
    }
    Ok(OrgSummary { id: org_id, slug, name, role: Role::Owner })
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    slug: String,
    name: String,
    role: String,
}

impl OrgRow {
    fn into_summary(self) -> OrgSummary {
        OrgSummary {
            id: self.id,
            slug: self.slug,
            name: self.name,
            role: Role::parse(&self.role).unwrap_or(Role::Member),
        }
    }
}

pub async fn list_for_user(ctx: &Ctx, user_id: Uuid) -> DomainResult<Vec<OrgSummary>> {
    let rows: Vec<OrgRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT o.id, o.slug, o.name, m.role FROM orgs o JOIN memberships m ON m.org_id = o.id \
         WHERE m.user_id = $1 ORDER BY o.name, o.slug"
    )
    .bind(user_id)
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(OrgRow::into_summary).collect())
}

/// The org named by `slug` as seen by `user_id`. A slug that does not
/// exist and one the user is not a member of give the same NOT_FOUND, so
/// nobody learns which orgs exist.
pub async fn membership(db: &Db, user_id: Uuid, slug: &str) -> DomainResult<OrgSummary> {
    let row: Option<OrgRow> = on_db!(db, |p| sqlx::query_as(
        "SELECT o.id, o.slug, o.name, m.role FROM orgs o JOIN memberships m ON m.org_id = o.id \
         WHERE o.slug = $1 AND m.user_id = $2"
    )
    .bind(slug)
    .bind(user_id)
    .fetch_optional(p)
    .await)?;
    row.map(OrgRow::into_summary).ok_or_else(AppError::not_found)
}

pub async fn find_by_slug(ctx: &Ctx, slug: &str) -> DomainResult<Option<Uuid>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT id FROM orgs WHERE slug = $1")
        .bind(slug)
        .fetch_optional(p)
        .await)?)
}

/// Adds `user_id` to an org directly (operators; people join by invite).
pub async fn add_member(ctx: &Ctx, actor: &Actor, org_id: Uuid, user_id: Uuid, role: Role) -> DomainResult<()> {
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    forget_viewer(ctx, user_id);
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: Some(org_id),
            action: "member.join",
            target: Some(user_id.to_string()),
            details: Some(serde_json::json!({ "role": role.as_str() })),
        },
    )
    .await
}

/// Membership with at least `min` role; a weaker role is FORBIDDEN (the
/// org itself is visible to every member, so 403 reveals nothing).
pub async fn require_role(ctx: &Ctx, actor: &Actor, slug: &str, min: Role) -> DomainResult<OrgSummary> {
    let org = membership(&ctx.db, actor.user_id(), slug).await?;
    if org.role < min {
        return Err(AppError::forbidden(format!("This needs the {} role in {}", min.as_str(), org.name)));
    }
    Ok(org)
}

/// Who is signed in, as every org page sees them: their email and every
/// org they belong to (the switcher), with their role in each.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: Uuid,
    pub email: String,
    /// Ordered by name, then slug.
    pub orgs: Vec<OrgSummary>,
}

impl Viewer {
    /// The org named by `slug`, if the viewer is a member: NOT_FOUND
    /// otherwise, as for an org that does not exist.
    pub fn member_of(&self, slug: &str) -> DomainResult<OrgSummary> {
        self.orgs.iter().find(|o| o.slug == slug).cloned().ok_or_else(AppError::not_found)
    }

    /// The frame of `org`'s pages (an org of `member_of`).
    pub fn context(&self, org: OrgSummary, unread_notifications: i64) -> OrgContext {
        OrgContext { org, user_email: self.email.clone(), orgs: self.orgs.clone(), unread_notifications }
    }
}

#[derive(sqlx::FromRow)]
struct ViewerRow {
    email: String,
    id: Option<Uuid>,
    slug: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

/// The signed-in user's email and memberships, in one query, remembered
/// for a few seconds (`cache::TTL_SECONDS`). Every membership change made
/// by this process drops the entries it touches at once; reads of pages
/// use this, while writes check their role with `membership`.
pub async fn viewer(ctx: &Ctx, user_id: Uuid) -> DomainResult<std::sync::Arc<Viewer>> {
    let now = ctx.clock.now();
    let cache = &ctx.caches.viewers;
    if let Some(viewer) = cache.get(&user_id, now) {
        return Ok(viewer);
    }
    let ticket = cache.ticket();
    let rows: Vec<ViewerRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT u.email, o.id, o.slug, o.name, m.role FROM users u \
         LEFT JOIN memberships m ON m.user_id = u.id LEFT JOIN orgs o ON o.id = m.org_id \
         WHERE u.id = $1 ORDER BY o.name, o.slug"
    )
    .bind(user_id)
    .fetch_all(p)
    .await)?;
    let email = rows.first().map(|r| r.email.clone()).ok_or_else(AppError::not_found)?;
    let orgs = rows
        .into_iter()
        .filter_map(|r| match (r.id, r.slug, r.name, r.role) {
            (Some(id), Some(slug), Some(name), Some(role)) => Some(OrgRow { id, slug, name, role }.into_summary()),
            _ => None,
        })
        .collect();
    let viewer = std::sync::Arc::new(Viewer { user_id, email, orgs });
    cache.put(ticket, user_id, viewer.clone(), now);
    Ok(viewer)
}

/// Drops what the viewer cache holds about `user_id`: after any change to
/// their memberships (a viewer lists only the user's own).
pub fn forget_viewer(ctx: &Ctx, user_id: Uuid) {
    ctx.caches.viewers.invalidate(|id| *id == user_id);
}

/// An org's figures for its overview (page and API): members, agents
/// (not deleted), runs started in the last 30 days, runs going on now, and
/// what it can spend now in micro-units.
pub struct OrgCounts {
    pub members: i64,
    pub agents: i64,
    pub runs_last_30_days: i64,
    pub runs_running: i64,
    pub balance_microunits: i64,
}

/// [`OrgCounts`] in one statement: the overview is read on every visit,
/// and each statement is a round trip.
pub async fn counts(ctx: &Ctx, org: &OrgSummary) -> DomainResult<OrgCounts> {
    let now = ctx.clock.now();
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM memberships WHERE org_id = $1), \
         (SELECT COUNT(*) FROM agents WHERE org_id = $1 AND deleted_at IS NULL), \
         (SELECT COUNT(*) FROM runs WHERE org_id = $1 AND started_at >= $3), \
         (SELECT COUNT(*) FROM runs WHERE org_id = $1 AND status = 'running'), \
         ({})",
        super::billing::BALANCE_SQL
    );
    let (members, agents, runs_last_30_days, runs_running, balance): (i64, i64, i64, i64, Option<i64>) =
        on_db!(&ctx.db, |p| sqlx::query_as(&sql)
            .bind(org.id)
            .bind(now)
            .bind(now - chrono::Duration::days(30))
            .fetch_one(p)
            .await)?;
    Ok(OrgCounts { members, agents, runs_last_30_days, runs_running, balance_microunits: balance.unwrap_or(0) })
}

/// What the overview reads from the database, kept by `caches.overview`.
pub struct OverviewData {
    counts: OrgCounts,
    recent_activity: Vec<crate::model::AuditEntryView>,
}

pub async fn overview(ctx: &Ctx, org: &OrgSummary) -> DomainResult<OrgOverview> {
    let data = super::cache::through(&ctx.caches.overview, org.id, ctx.clock.now(), || async {
        let counts = counts(ctx, org).await?;
        let recent_activity = audit::recent_for_org(ctx, org.id, 10).await?;
        Ok::<_, AppError>(Arc::new(OverviewData { counts, recent_activity }))
    })
    .await?;
    let counts = &data.counts;
    let package_name = super::billing::plans::package_of(ctx, org.id).await?.name;
    Ok(OrgOverview {
        member_count: counts.members,
        agent_count: counts.agents,
        runs_last_30_days: counts.runs_last_30_days,
        runs_running: counts.runs_running,
        recent_activity: data.recent_activity.clone(),
        balance: super::billing::credits(counts.balance_microunits),
        package_name,
        metered: ctx.billing.metered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        assert!(validate_slug("acme").is_ok());
        assert!(validate_slug("acme-2").is_ok());
        assert!(validate_slug("ab").is_err());
        assert!(validate_slug(&"a".repeat(41)).is_err());
        assert!(validate_slug(&"a".repeat(40)).is_ok());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("acme_co").is_err());
        assert!(validate_slug("-acme").is_err());
        for reserved in ["api", "share", "pkg", "settings", "login"] {
            assert!(validate_slug(reserved).is_err(), "{reserved} must be refused");
        }
    }

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Acme Robotics!"), "acme-robotics");
        assert_eq!(slug_from_name("  --Hello   World--  "), "hello-world");
    }
}
