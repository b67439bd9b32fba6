//! The notifications page's and the sidebar badge's server functions; the
//! same domain calls as `/api/v1/notifications`.

use leptos::prelude::*;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use super::support::*;
#[cfg(feature = "ssr")]
use crate::domain::{self, notifications::inbox};
use crate::model::{AppError, NotificationPage, NotificationView, NotificationsRead};

/// The newest 50 (or the unread among them) and the unread count.
#[server(prefix = "/fn", endpoint = "list_notifications")]
pub async fn list_notifications(org: String, unread: bool) -> Result<NotificationPage, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    inbox::list(&ctx, &actor, &org, unread, domain::paging::PageRequest::parse(Some(50), None)?).await
}

/// The sidebar's badge.
#[server(prefix = "/fn", endpoint = "unread_notifications")]
pub async fn unread_notifications(org: String) -> Result<i64, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    inbox::unread_count(&ctx, org.id, actor.user_id()).await
}

#[server(prefix = "/fn", endpoint = "mark_notification_read")]
pub async fn mark_notification_read(org: String, id: Uuid) -> Result<NotificationView, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    inbox::mark_read(&ctx, &actor, &org, id).await
}

#[server(prefix = "/fn", endpoint = "mark_all_notifications_read")]
pub async fn mark_all_notifications_read(org: String) -> Result<NotificationsRead, AppError> {
    let actor = require_actor().await?;
    let ctx = ctx()?;
    let org = member_of(&ctx, &actor, &org).await?;
    inbox::read_all(&ctx, &actor, &org).await
}
