//! Membership management: invite links, role changes, removal. The last
//! owner of an org can be neither removed nor demoted.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::orgs::{membership, require_role};
use super::paging::{Cursor, PageRequest};
use super::{Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, on_db};
use crate::model::{
    AppError, CreatedInvite, InvitePreview, InviteView, MemberView, MembersPage, OrgSummary, Page, Role,
};

const INVITE_DAYS: i64 = 7;

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: Uuid,
    email: String,
    role: String,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct InviteRow {
    id: Uuid,
    role: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl MemberRow {
    fn view(self) -> MemberView {
        MemberView {
            user_id: self.user_id,
            email: self.email,
            role: role_of(&self.role),
            joined_at: super::clock::iso(self.created_at),
        }
    }
}

impl InviteRow {
    fn view(self) -> InviteView {
        InviteView {
            id: self.id,
            role: role_of(&self.role),
            created_at: super::clock::iso(self.created_at),
            expires_at: super::clock::iso(self.expires_at),
        }
    }
}

fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Member)
}

pub async fn list(ctx: &Ctx, actor: &Actor, slug: &str) -> DomainResult<MembersPage> {
    let org = super::orgs::viewer(ctx, actor.user_id()).await?.member_of(slug)?;
    let members: Vec<MemberRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY m.created_at, u.email"
    )
    .bind(org.id)
    .fetch_all(p)
    .await)?;
    // Pending invites are for those who can manage members.
    let invites: Vec<InviteRow> = if org.role >= Role::Admin {
        on_db!(&ctx.db, |p| sqlx::query_as(
            "SELECT id, role, created_at, expires_at FROM invites \
             WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC"
        )
        .bind(org.id)
        .bind(ctx.clock.now())
        .fetch_all(p)
        .await)?
    } else {
        Vec::new()
    };
    Ok(MembersPage {
        viewer_id: actor.user_id(),
        viewer_role: org.role,
        members: members.into_iter().map(MemberRow::view).collect(),
        invites: invites.into_iter().map(InviteRow::view).collect(),
    })
}

/// One page of the org's members for `/api/v1/members`, newest first.
/// Any member, and any key of the org, may read it.
pub async fn list_page(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<MemberView>> {
    let (before_at, before_id) = page.bounds();
    let rows: Vec<MemberRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND (m.created_at < $2 OR (m.created_at = $2 AND m.user_id < $3)) \
         ORDER BY m.created_at DESC, m.user_id DESC LIMIT $4"
    )
    .bind(org.id)
    .bind(before_at)
    .bind(before_id)
    .bind(page.fetch_limit())
    .fetch_all(p)
    .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.user_id }, MemberRow::view))
}

/// One page of the org's pending invites, newest first: admins and owners
/// only, since an invite is a way in.
pub async fn invites_page(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<InviteView>> {
    if org.role < Role::Admin {
        return Err(AppError::forbidden("Only admins and owners see pending invites"));
    }
    let (before_at, before_id) = page.bounds();
    let rows: Vec<InviteRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, role, created_at, expires_at FROM invites \
         WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
         AND (created_at < $3 OR (created_at = $3 AND id < $4)) ORDER BY created_at DESC, id DESC LIMIT $5"
    )
    .bind(org.id)
    .bind(ctx.clock.now())
    .bind(before_at)
    .bind(before_id)
    .bind(page.fetch_limit())
    .fetch_all(p)
    .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, InviteRow::view))
}

/// One member, as the API answers a role change.
pub async fn get_member(ctx: &Ctx, org: &OrgSummary, user_id: Uuid) -> DomainResult<MemberView> {
    let row: Option<MemberRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2"
    )
    .bind(org.id)
    .bind(user_id)
    .fetch_optional(p)
    .await)?;
    row.map(MemberRow::view).ok_or_else(AppError::not_found)
}

/// Only owners hand out, take away or change the owner role.
fn check_may_assign(org: &OrgSummary, role: Role) -> DomainResult<()> {
    if role == Role::Owner && org.role != Role::Owner {
        return Err(AppError::forbidden("Only owners can make someone an owner"));
    }
    Ok(())
}

pub async fn create_invite(ctx: &Ctx, actor: &Actor, slug: &str, role: Role) -> DomainResult<CreatedInvite> {
    super::step_up::require_browser_step_up(ctx, actor)?;
    let org = require_role(ctx, actor, slug, Role::Admin).await?;
    check_may_assign(&org, role)?;
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let now = ctx.clock.now();
    let expires_at = now + Duration::days(INVITE_DAYS);
    let id = Uuid::new_v4();
    exec_on_db!(&ctx.db, |p| {
        sqlx::query(
        "INSERT INTO invites (id, org_id, token_hash, role, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(id)
    .bind(org.id)
    .bind(hash_token(&token))
    .bind(role.as_str())
    .bind(actor.user_id())
    .bind(now)
    .bind(expires_at)
    .execute(p)
    .await
    })?;
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: Some(org.id),
            action: "member.invite",
            target: Some(id.to_string()),
            details: Some(serde_json::json!({ "role": role.as_str() })),
        },
    )
    .await?;
    Ok(CreatedInvite {
        url: format!("{}/invite/{}", ctx.settings.public_url, token),
        role,
        expires_at: super::clock::iso(expires_at),
    })
}

pub async fn revoke_invite(ctx: &Ctx, actor: &Actor, slug: &str, invite_id: Uuid) -> DomainResult<()> {
    super::step_up::require_browser_step_up(ctx, actor)?;
    let org = require_role(ctx, actor, slug, Role::Admin).await?;
    let done = exec_on_db!(&ctx.db, |p| {
        sqlx::query(
        "UPDATE invites SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL"
    )
    .bind(invite_id)
    .bind(org.id)
    .bind(ctx.clock.now())
    .execute(p)
    .await
    })?;
    if done == 0 {
        return Err(AppError::not_found());
    }
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: Some(org.id),
            action: "member.invite_revoke",
            target: Some(invite_id.to_string()),
            details: None,
        },
    )
    .await
}

#[derive(sqlx::FromRow)]
struct PendingInvite {
    id: Uuid,
    org_id: Uuid,
    role: String,
    name: String,
    slug: String,
}

async fn find_invite(ctx: &Ctx, token: &str) -> DomainResult<PendingInvite> {
    let row: Option<PendingInvite> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT i.id, i.org_id, i.role, o.name, o.slug FROM invites i JOIN orgs o ON o.id = i.org_id \
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2"
    )
    .bind(hash_token(token))
    .bind(ctx.clock.now())
    .fetch_optional(p)
    .await)?;
    row.ok_or_else(|| AppError::new(crate::model::ErrorCode::NotFound, "This invite link is invalid, used or expired"))
}

pub async fn preview_invite(ctx: &Ctx, token: &str, viewer: Option<&Actor>) -> DomainResult<InvitePreview> {
    let invite = find_invite(ctx, token).await?;
    let signed_in_as = match viewer {
        Some(actor) => Some(super::accounts::email_of(ctx, actor.user_id()).await?),
        None => None,
    };
    Ok(InvitePreview { org_name: invite.name, org_slug: invite.slug, role: role_of(&invite.role), signed_in_as })
}

/// Joins the org with the invite's role; returns the org slug. A member
/// who opens an invite keeps their role (the invite stays unused).
pub async fn accept_invite(ctx: &Ctx, actor: &Actor, token: &str) -> DomainResult<String> {
    let invite = find_invite(ctx, token).await?;
    if membership(&ctx.db, actor.user_id(), &invite.slug).await.is_ok() {
        return Ok(invite.slug);
    }
    let now = ctx.clock.now();
    let result: DomainResult<()> = on_db!(&ctx.db, |p| {
        async {
        let mut tx = p.begin().await?;
        // Claim the invite first: of two people racing on one link, one wins.
        let claimed = sqlx::query(
            "UPDATE invites SET accepted_at = $2, accepted_by = $3 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(invite.id)
        .bind(now)
        .bind(actor.user_id())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Err(AppError::new(crate::model::ErrorCode::NotFound, "This invite link is invalid, used or expired"));
        }
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(invite.org_id)
            .bind(actor.user_id())
            .bind(&invite.role)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let event = AuditEvent {
            org_id: Some(invite.org_id),
            action: "member.join",
            target: Some(actor.user_id().to_string()),
            details: Some(serde_json::json!({ "role": invite.role, "inviteId": invite.id })),
        };
        audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
        tx.commit().await?;
        Ok(())
    }
    .await
    });
    super::orgs::forget_viewer(ctx, actor.user_id());
    result.map(|()| invite.slug)
}

/// What happens to the target's membership.
#[derive(Clone, Copy)]
enum Change {
    Role(Role),
    Remove,
}

pub async fn change_role(ctx: &Ctx, actor: &Actor, slug: &str, user_id: Uuid, role: Role) -> DomainResult<()> {
    change(ctx, actor, slug, user_id, Change::Role(role)).await
}

pub async fn remove(ctx: &Ctx, actor: &Actor, slug: &str, user_id: Uuid) -> DomainResult<()> {
    change(ctx, actor, slug, user_id, Change::Remove).await
}

async fn change(ctx: &Ctx, actor: &Actor, slug: &str, target: Uuid, change: Change) -> DomainResult<()> {
    super::step_up::require_browser_step_up(ctx, actor)?;
    let leaving = matches!(change, Change::Remove) && target == actor.user_id();
    // Anyone may leave; managing others needs admin.
    let org = if leaving {
        membership(&ctx.db, actor.user_id(), slug).await?
    } else {
        require_role(ctx, actor, slug, Role::Admin).await?
    };
    if let Change::Role(role) = change {
        check_may_assign(&org, role)?;
    }
    let now = ctx.clock.now();
    let result: DomainResult<()> = on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        // Writing the org row first serializes membership changes per org on
        // both backends, so two owners cannot demote each other at once.
        sqlx::query("UPDATE orgs SET updated_at = $2 WHERE id = $1").bind(org.id).bind(now).execute(&mut *tx).await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org.id)
                .bind(target)
                .fetch_optional(&mut *tx)
                .await?;
        let current = current.map(|r| role_of(&r)).ok_or_else(AppError::not_found)?;
        if current == Role::Owner && org.role != Role::Owner && !leaving {
            return Err(AppError::forbidden("Only owners can change or remove an owner"));
        }
        let stays_owner = matches!(change, Change::Role(Role::Owner));
        if current == Role::Owner && !stays_owner {
            let owners: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
                    .bind(org.id)
                    .fetch_one(&mut *tx)
                    .await?;
            if owners <= 1 {
                return Err(AppError::conflict(
                    "An organization needs at least one owner: make someone else an owner first",
                ));
            }
        }
        let (action, details) = match change {
            Change::Role(role) => {
                sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2")
                    .bind(org.id)
                    .bind(target)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                ("member.role_change", serde_json::json!({ "from": current.as_str(), "to": role.as_str() }))
            }
            Change::Remove => {
                sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
                    .bind(org.id)
                    .bind(target)
                    .execute(&mut *tx)
                    .await?;
                (
                    if leaving { "member.leave" } else { "member.remove" },
                    serde_json::json!({ "role": current.as_str() }),
                )
            }
        };
        let event =
            AuditEvent { org_id: Some(org.id), action, target: Some(target.to_string()), details: Some(details) };
        audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
        tx.commit().await?;
        Ok(())
    }
    .await);
    if result.is_ok() {
        // A key acts with its user's membership, and pages with the
        // viewer's: a new role or a removal applies to the next request.
        ctx.caches.keys.clear();
        super::orgs::forget_viewer(ctx, target);
    }
    result
}
