//! API keys (SPEC §5). A key is `alm_<env>_<48 hex>`: 40 random hex digits
//! (160 bits) followed by 8 hex digits of CRC32 over everything before
//! them, so secret scanners can tell a real key from noise offline:
//! `^alm_(live|test)_[0-9a-f]{48}$` and
//! `crc32(key[..key.len()-8]) == u32::from_str_radix(&key[key.len()-8..], 16)`.
//! Only the SHA-256 of a key and its first 12 characters are stored.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::audit::{self, AuditEvent};
use super::cache::AuthenticatedKey;
use super::paging::{Cursor, PageRequest};
use super::{Actor, Ctx, DomainResult};
use crate::db::{exec_on_db, on_db, Db};
use crate::model::{ApiKeyView, AppError, ErrorCode, MintedApiKey, OrgSummary, Page, Role};

pub const SCOPE_MODELS_READ: &str = "models:read";
pub const SCOPE_TERMINAL: &str = "terminal";
pub const SCOPE_BILLING_CHARGE: &str = "billing:machine:charge";
pub const KNOWN_SCOPES: &[&str] = &[SCOPE_MODELS_READ, SCOPE_TERMINAL, SCOPE_BILLING_CHARGE];
pub const PREFIX_LEN: usize = 12;

const RANDOM_HEX: usize = 40;
const CHECK_HEX: usize = 8;

/// A new key for the given environment (`live` in production).
pub fn generate(production: bool) -> String {
    let mut random = [0u8; RANDOM_HEX / 2];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let body = format!("alm_{}_{}", if production { "live" } else { "test" }, hex::encode(random));
    format!("{body}{:08x}", crc32fast::hash(body.as_bytes()))
}

/// The offline check: shape and checksum, no database.
pub fn well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("alm_live_").or_else(|| key.strip_prefix("alm_test_")) else {
        return false;
    };
    if rest.len() != RANDOM_HEX + CHECK_HEX || !rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return false;
    }
    let (body, check) = key.split_at(key.len() - CHECK_HEX);
    u32::from_str_radix(check, 16).is_ok_and(|c| c == crc32fast::hash(body.as_bytes()))
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn parse_scopes(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_string).collect()
}

/// Checks requested scopes: known names, and `billing:machine:charge`
/// only for owners and admins. No scopes means the default.
pub fn check_scopes(org: &OrgSummary, requested: &[String]) -> DomainResult<Vec<String>> {
    if requested.is_empty() {
        return Ok(vec![SCOPE_MODELS_READ.to_string()]);
    }
    let mut scopes = Vec::new();
    for s in requested {
        let s = s.trim();
        if !KNOWN_SCOPES.contains(&s) {
            return Err(AppError::validation(
                "scopes",
                format!("Unknown scope {s:?}; known: {}", KNOWN_SCOPES.join(", ")),
            ));
        }
        if s == SCOPE_BILLING_CHARGE && org.role < Role::Admin {
            return Err(AppError::forbidden("Only owners and admins may grant billing:machine:charge"));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    Ok(scopes)
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    created_by: Uuid,
    email: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl KeyRow {
    fn view(self) -> ApiKeyView {
        ApiKeyView {
            id: self.id,
            name: self.name,
            prefix: self.prefix,
            scopes: parse_scopes(&self.scopes),
            created_by: self.created_by,
            created_by_email: self.email,
            created_at: super::clock::iso(self.created_at),
            last_used_at: self.last_used_at.map(super::clock::iso),
            revoked_at: self.revoked_at.map(super::clock::iso),
        }
    }
}

const SELECT_KEYS: &str =
    "SELECT k.id, k.name, k.prefix, k.scopes, k.created_by, u.email, k.created_at, k.last_used_at, k.revoked_at \
     FROM api_keys k LEFT JOIN users u ON u.id = k.created_by";

pub async fn list(ctx: &Ctx, org: &OrgSummary) -> DomainResult<Vec<ApiKeyView>> {
    let sql =
        format!("{SELECT_KEYS} WHERE k.org_id = $1 ORDER BY k.revoked_at IS NOT NULL, k.created_at DESC, k.id DESC");
    let rows: Vec<KeyRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql).bind(org.id).fetch_all(p).await)?;
    Ok(rows.into_iter().map(KeyRow::view).collect())
}

/// One page of the org's keys for `/api/v1/api-keys`, newest first
/// (revoked ones included, with `revokedAt`).
pub async fn list_page(ctx: &Ctx, org: &OrgSummary, page: PageRequest) -> DomainResult<Page<ApiKeyView>> {
    let (before_at, before_id) = page.bounds();
    let sql = format!(
        "{SELECT_KEYS} WHERE k.org_id = $1 AND (k.created_at < $2 OR (k.created_at = $2 AND k.id < $3)) \
         ORDER BY k.created_at DESC, k.id DESC LIMIT $4"
    );
    let rows: Vec<KeyRow> = on_db!(&ctx.db, |p| sqlx::query_as(&sql)
        .bind(org.id)
        .bind(before_at)
        .bind(before_id)
        .bind(page.fetch_limit())
        .fetch_all(p)
        .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, KeyRow::view))
}

/// Keys of the org that are not revoked (the overview's count).
pub async fn count_active(ctx: &Ctx, org: &OrgSummary) -> DomainResult<i64> {
    let n: i64 = on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL"
    )
    .bind(org.id)
    .fetch_one(p)
    .await)?;
    Ok(n)
}

async fn get(db: &Db, org_id: Uuid, id: Uuid) -> DomainResult<ApiKeyView> {
    let sql = format!("{SELECT_KEYS} WHERE k.org_id = $1 AND k.id = $2");
    let row: Option<KeyRow> = on_db!(db, |p| sqlx::query_as(&sql).bind(org_id).bind(id).fetch_optional(p).await)?;
    row.map(KeyRow::view).ok_or_else(AppError::not_found)
}

/// Mints a key for the actor in `org` (browser only; rate limited on
/// user + client IP). The secret is in the answer and nowhere else.
pub async fn mint(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    name: &str,
    scopes: &[String],
) -> DomainResult<MintedApiKey> {
    let browser = super::step_up::require_browser_step_up(ctx, actor)?;
    ctx.limits.check(&ctx.limits.mint_key, format!("{}|{}", browser.user_id, actor.ip().unwrap_or("-")))?;
    issue(ctx, actor, org, name, scopes).await
}

/// Creates the key for `actor`'s user in `org`, once the caller has decided
/// that `actor` may (a browser session, or an operator at the CLI).
pub async fn issue(
    ctx: &Ctx,
    actor: &Actor,
    org: &OrgSummary,
    name: &str,
    scopes: &[String],
) -> DomainResult<MintedApiKey> {
    let name = super::validate::text("name", name, 80)?;
    let scopes = check_scopes(org, scopes)?;
    let secret = generate(ctx.settings.production);
    let id = Uuid::new_v4();
    exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO api_keys (id, org_id, created_by, name, prefix, secret_hash, scopes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id)
    .bind(org.id)
    .bind(actor.user_id())
    .bind(&name)
    .bind(&secret[..PREFIX_LEN])
    .bind(hash(&secret))
    .bind(scopes.join(" "))
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    audit::record(
        ctx,
        actor.into(),
        AuditEvent {
            org_id: Some(org.id),
            action: "api_key.mint",
            target: Some(id.to_string()),
            details: Some(serde_json::json!({ "name": name, "scopes": scopes })),
        },
    )
    .await?;
    Ok(MintedApiKey { key: get(&ctx.db, org.id, id).await?, secret })
}

/// Revokes a key of `org` (browser only). Members revoke their own keys,
/// admins any; revoking twice is a conflict.
pub async fn revoke(ctx: &Ctx, actor: &Actor, org: &OrgSummary, id: Uuid) -> DomainResult<ApiKeyView> {
    let browser = super::step_up::require_browser_step_up(ctx, actor)?;
    let key = get(&ctx.db, org.id, id).await?;
    if key.created_by != browser.user_id && org.role < Role::Admin {
        return Err(AppError::forbidden("Only admins can revoke someone else's key"));
    }
    mark_revoked(ctx, org.id, id, actor.into()).await?;
    get(&ctx.db, org.id, id).await
}

/// `alumia admin revoke-key`: revokes any key by id.
pub async fn revoke_as_operator(ctx: &Ctx, id: Uuid) -> DomainResult<()> {
    let org_id: Option<Uuid> = on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT org_id FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(p)
        .await)?;
    let org_id = org_id.ok_or_else(AppError::not_found)?;
    let operator = audit::AuditActor { user_id: None, auth_method: "cli", stepped_up_at: None, ip: None };
    mark_revoked(ctx, org_id, id, operator).await
}

/// Revokes once (a second time is a conflict), forgets the cached key at
/// once, and audits who did it.
async fn mark_revoked(ctx: &Ctx, org_id: Uuid, id: Uuid, by: audit::AuditActor) -> DomainResult<()> {
    let done = exec_on_db!(&ctx.db, |p| sqlx::query(
        "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(org_id)
    .bind(ctx.clock.now())
    .execute(p)
    .await)?;
    if done == 0 {
        return Err(AppError::conflict("This key is already revoked"));
    }
    ctx.caches.keys.clear();
    audit::record(
        ctx,
        by,
        AuditEvent { org_id: Some(org_id), action: "api_key.revoke", target: Some(id.to_string()), details: None },
    )
    .await
}

#[derive(sqlx::FromRow)]
struct AuthRow {
    id: Uuid,
    org_id: Uuid,
    created_by: Uuid,
    scopes: String,
    last_used_at: Option<DateTime<Utc>>,
    slug: String,
    org_name: String,
    role: String,
}

/// Resolves a bearer token to its actor and org. Every failure is the same
/// 401, so callers learn nothing about which keys exist. A key found is
/// remembered for a few seconds (`cache`): this is the hottest query of
/// `/api/v1`.
pub async fn authenticate(ctx: &Ctx, token: &str, ip: Option<String>) -> DomainResult<(Actor, OrgSummary)> {
    let unauthorized = || AppError::new(ErrorCode::Unauthorized, "Missing, malformed, unknown or revoked API key");
    if !well_formed(token) {
        return Err(unauthorized());
    }
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let now = ctx.clock.now();
    let key = match ctx.caches.keys.get(&digest, now) {
        Some(key) => key,
        None => {
            let ticket = ctx.caches.keys.ticket();
            let key = load_authenticated(ctx, &hex::encode(digest)).await?.ok_or_else(unauthorized)?;
            ctx.caches.keys.put(ticket, digest, key.clone(), now);
            key
        }
    };
    // last-used is written at most once a minute per key, not per request.
    if key.last_used_at.is_none_or(|t| now - t >= Duration::seconds(60)) {
        exec_on_db!(&ctx.db, |p| sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)"
        )
        .bind(key.key_id)
        .bind(now)
        .bind(now - Duration::seconds(60))
        .execute(p)
        .await)?;
        ctx.caches.keys.update(&digest, |cached| cached.last_used_at = Some(now));
    }
    let actor = Actor::ApiKey { key_id: key.key_id, user_id: key.user_id, org_id: key.org.id, scopes: key.scopes, ip };
    Ok((actor, key.org))
}

/// One round trip: the key, its org, and the membership of its user (a
/// key stops working in an org its user has left).
async fn load_authenticated(ctx: &Ctx, secret_hash: &str) -> DomainResult<Option<AuthenticatedKey>> {
    let row: Option<AuthRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT k.id, k.org_id, k.created_by, k.scopes, k.last_used_at, o.slug, o.name AS org_name, m.role \
         FROM api_keys k JOIN orgs o ON o.id = k.org_id \
         JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.created_by \
         WHERE k.secret_hash = $1 AND k.revoked_at IS NULL"
    )
    .bind(secret_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(|row| AuthenticatedKey {
        key_id: row.id,
        user_id: row.created_by,
        scopes: parse_scopes(&row.scopes),
        org: OrgSummary {
            id: row.org_id,
            slug: row.slug,
            name: row.org_name,
            role: Role::parse(&row.role).unwrap_or(Role::Member),
        },
        last_used_at: row.last_used_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape_and_checksum() {
        let k = generate(false);
        assert!(k.starts_with("alm_test_"));
        assert_eq!(k.len(), "alm_test_".len() + 48);
        assert!(well_formed(&k));
        assert!(generate(true).starts_with("alm_live_"));
        assert!(well_formed(&generate(true)));
    }

    #[test]
    fn a_changed_digit_breaks_the_checksum() {
        let k = generate(false);
        let mut bytes = k.clone().into_bytes();
        let i = 12;
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        assert!(!well_formed(&String::from_utf8(bytes).unwrap()));
        assert!(!well_formed("alm_test_short"));
        assert!(!well_formed(&k.to_uppercase()));
        assert!(!well_formed(&k.replace("alm_test_", "alm_prod_")));
    }
}
