//! `/api/v1/notifications` (SPEC §12): the caller's notifications with
//! their read state (theirs: an org-wide notification is read by each
//! member on their own), marking read, and the live stream.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use futures::stream;
use serde::Deserialize;

use app::domain::notifications::inbox;
use app::domain::Ctx;
use app::model::{NotificationPage, NotificationView, NotificationsRead};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiQuery};
use super::sse::{self, KEEP_ALIVE, KEEP_ALIVE_FRAME};
use crate::auth::ApiCaller;
use crate::openapi::Envelope;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
// Not deny_unknown_fields: a browser session names its org with `?org=`.
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    /// Only the ones the caller has not read.
    pub unread: Option<bool>,
    /// How many items a page holds.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page, as it was given.
    #[param(max_length = 51, pattern = "^$|^[0-9]{1,18}-[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/notifications", tag = "notifications", params(NotificationParams),
    description = "Newest first: the org's notifications and the caller's own, each with a title, a body and a link, and `readAt` as the caller read it. `unreadCount` counts all of the caller's unread ones, whatever the page.",
    responses((status = 200, description = "A page of notifications", body = Envelope<NotificationPage>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<NotificationParams>,
) -> Result<ApiOk<NotificationPage>, ApiError> {
    let page = app::domain::paging::PageRequest::parse(params.limit, params.cursor.as_deref())?;
    Ok(ApiOk(inbox::list(&ctx, &caller.actor, &caller.org, params.unread.unwrap_or(false), page).await?))
}

#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", params(("id" = Uuid, Path)),
    description = "Marks it read for the caller (again: no change).",
    responses((status = 200, description = "The notification, read", body = Envelope<NotificationView>)))]
pub async fn mark_read(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<NotificationView>, ApiError> {
    Ok(ApiOk(inbox::mark_read(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    description = "Marks every notification the caller sees so far read, for the caller.",
    responses((status = 200, description = "What is left unread", body = Envelope<NotificationsRead>)))]
pub async fn read_all(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<ApiOk<NotificationsRead>, ApiError> {
    Ok(ApiOk(inbox::read_all(&ctx, &caller.actor, &caller.org).await?))
}

#[utoipa::path(get, path = "/notifications/stream", tag = "notifications",
    description = "Server-sent events: `notification.created` (data: the notification) for each new one from now on, whichever server process wrote it; a comment line every 15 s of quiet. The stream does not end by itself.",
    responses((status = 200, description = "text/event-stream")))]
pub async fn stream(State(ctx): State<Ctx>, caller: ApiCaller) -> Result<Response, ApiError> {
    let fresh = inbox::follow(&ctx, &caller.org, caller.actor.user_id()).await?;
    let frames = stream::unfold(fresh, |mut fresh| async move {
        let frame = match tokio::time::timeout(KEEP_ALIVE, fresh.recv()).await {
            Ok(Some(n)) => {
                let data = serde_json::to_string(&n).unwrap_or_default();
                Bytes::from(format!("event: notification.created\nid: {}\ndata: {data}\n\n", n.id))
            }
            Ok(None) => return None,
            Err(_) => Bytes::from_static(KEEP_ALIVE_FRAME),
        };
        Some((Ok::<_, Infallible>(frame), fresh))
    });
    Ok(sse::response(frames))
}
