//! Who calls `/api/v1`: `Authorization: Bearer alm_…` (the key's org and
//! user), or a browser session on the same host, which names the org with
//! `?org=<slug>` (or has only one).

use axum::extract::FromRequestParts;
use http::header::AUTHORIZATION;
use http::request::Parts;
use tower_sessions::Session;
use uuid::Uuid;

use app::api::support::{ClientIp, SESSION_KEY};
use app::domain::{accounts, api_keys, orgs, Actor, Ctx};
use app::model::{AppError, ErrorCode, OrgSummary};

use crate::api::envelope::ApiError;

/// The authenticated caller and the org every query of the request is
/// confined to.
pub struct ApiCaller {
    pub actor: Actor,
    pub org: OrgSummary,
}

fn unauthorized() -> ApiError {
    ApiError(AppError::new(ErrorCode::Unauthorized, "Missing, malformed, unknown or revoked API key"))
}

fn query_param(parts: &Parts, name: &str) -> Option<String> {
    parts.uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

impl FromRequestParts<Ctx> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, ApiError> {
        let ip = parts.extensions.get::<ClientIp>().map(|c| c.0.to_string());
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let token = header.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
            let (actor, org) = api_keys::authenticate(ctx, token, ip).await?;
            return Ok(ApiCaller { actor, org });
        }
        let session = Session::from_request_parts(parts, ctx).await.map_err(|_| unauthorized())?;
        let session_id: Uuid = session.get(SESSION_KEY).await.ok().flatten().ok_or_else(unauthorized)?;
        let live = accounts::resolve_session(ctx, session_id).await?.ok_or_else(unauthorized)?;
        let user_id = live.user_id;
        let actor = Actor::User { user_id, session_id, stepped_up_at: live.stepped_up_at, ip };
        let org = match query_param(parts, "org") {
            Some(slug) => orgs::membership(&ctx.db, user_id, &slug).await?,
            None => {
                let mut all = orgs::list_for_user(ctx, user_id).await?;
                if all.len() != 1 {
                    return Err(ApiError(AppError::bad_request("org: name the organization with ?org=<slug>")));
                }
                all.remove(0)
            }
        };
        Ok(ApiCaller { actor, org })
    }
}
