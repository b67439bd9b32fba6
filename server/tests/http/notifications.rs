//! `/api/v1/notifications` (SPEC §12): each member's read state of the
//! org's notifications, `unreadCount`, the unread filter, read one / read
//! all, words and links a person reads, and the live stream, also for a
//! notification another server process wrote (PostgreSQL).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use app::domain::notifications;

use crate::support::*;

struct Org {
    server: TestServer,
    owner: Browser,
    member: Browser,
    key: String,
    slug: String,
    id: Uuid,
}

async fn org_with_member() -> Org {
    let server = start_with(|s| s.disable_rate_limit = Some(true)).await;
    let (mut owner, slug, key) = owner_with_key(&server, &[]).await;
    let invite =
        owner.api(Method::POST, &format!("/api/v1/members/invites?org={slug}"), json!({"role": "member"})).await;
    let token = invite.json()["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let mut member = Browser::new(&server);
    member.sign_up(&email("member")).await;
    assert_eq!(member.call("accept_invite", &[("token", &token)]).await.status, StatusCode::OK);
    let id = app::domain::orgs::find_by_slug(&server.ctx, &slug).await.unwrap().unwrap();
    Org { server, owner, member, key, slug, id }
}

async fn inbox(b: &mut Browser, slug: &str, query: &str) -> Value {
    let page = b.api(Method::GET, &format!("/api/v1/notifications?org={slug}{query}"), json!({})).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    data(&page)
}

fn failed(name: &str) -> Value {
    json!({ "scheduleId": Uuid::new_v4(), "scheduleName": name, "reason": "agent_disabled",
            "error": "The schedule's agent is disabled" })
}

#[tokio::test]
async fn each_member_reads_the_orgs_notifications_on_their_own() {
    let mut o = org_with_member().await;
    let ctx = &o.server.ctx;
    notifications::notify(ctx, o.id, None, "schedule.failed", failed("Digest")).await.unwrap();
    ctx.clock.advance(chrono::Duration::seconds(1));
    notifications::notify(ctx, o.id, None, "credits.exhausted", json!({ "usageId": "u1" })).await.unwrap();

    let page = inbox(&mut o.owner, &o.slug, "").await;
    assert_eq!(page["unreadCount"], 2);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "credits.exhausted", "newest first");
    assert_eq!(items[0]["title"], "Credits ran out");
    assert_eq!(items[0]["link"], format!("/{}/billing", o.slug));
    let schedule = &items[1];
    assert_eq!(schedule["title"], "Schedule “Digest” failed");
    assert!(schedule["body"].as_str().unwrap().starts_with("Its agent is disabled"), "{schedule}");
    assert!(schedule["link"].as_str().unwrap().starts_with(&format!("/{}/schedules?schedule=", o.slug)));
    assert_eq!(schedule["payload"]["reason"], "agent_disabled", "the facts stay as they were written");
    assert_eq!(schedule["readAt"], Value::Null);

    // The owner reads one: the member's stays unread.
    let id = schedule["id"].as_str().unwrap();
    let read = o.owner.api(Method::POST, &format!("/api/v1/notifications/{id}/read?org={}", o.slug), json!({})).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(data(&read)["readAt"].is_string());
    let again = o.owner.api(Method::POST, &format!("/api/v1/notifications/{id}/read?org={}", o.slug), json!({})).await;
    assert_eq!(data(&again)["readAt"], data(&read)["readAt"], "reading again changes nothing");
    assert_eq!(inbox(&mut o.owner, &o.slug, "").await["unreadCount"], 1);
    let unread = inbox(&mut o.owner, &o.slug, "&unread=true").await;
    assert_eq!(unread["items"].as_array().unwrap().len(), 1);
    assert_eq!(unread["items"][0]["kind"], "credits.exhausted");
    assert_eq!(inbox(&mut o.member, &o.slug, "").await["unreadCount"], 2, "the member's are theirs");

    // A notification for the owner alone is not the member's.
    let owner_id = app::db::on_db!(&ctx.db, |p| sqlx::query_scalar::<_, Uuid>(
        "SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'owner'"
    )
    .bind(o.id)
    .fetch_one(p)
    .await)
    .unwrap();
    notifications::notify(ctx, o.id, Some(owner_id), "schedule.failed", failed("Private")).await.unwrap();
    assert_eq!(inbox(&mut o.owner, &o.slug, "").await["unreadCount"], 2);
    let member_page = inbox(&mut o.member, &o.slug, "").await;
    assert_eq!(member_page["items"].as_array().unwrap().len(), 2, "{member_page}");
    let private = inbox(&mut o.owner, &o.slug, "").await["items"][0]["id"].as_str().unwrap().to_string();
    let theirs =
        o.member.api(Method::POST, &format!("/api/v1/notifications/{private}/read?org={}", o.slug), json!({})).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "another member's is not there");

    // Read all, for the member: later ones are unread again.
    let all = o.member.api(Method::POST, &format!("/api/v1/notifications/read-all?org={}", o.slug), json!({})).await;
    assert_eq!(data(&all)["unreadCount"], 0);
    assert!(inbox(&mut o.member, &o.slug, "").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["readAt"].is_string()));
    assert_eq!(inbox(&mut o.owner, &o.slug, "").await["unreadCount"], 2, "the owner's are untouched");
    ctx.clock.advance(chrono::Duration::seconds(1));
    notifications::notify(ctx, o.id, None, "schedule.failed", failed("Later")).await.unwrap();
    let after = inbox(&mut o.member, &o.slug, "&unread=true").await;
    assert_eq!(
        (after["unreadCount"].clone(), after["items"][0]["title"].clone()),
        (json!(1), json!("Schedule “Later” failed"))
    );

    // Another org's notification is a 404, and a page is a page.
    let api = Api::new(&o.server, Some(&o.key));
    assert_eq!(
        api.post(&format!("/notifications/{}/read", Uuid::new_v4()), json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let first = data(&api.get("/notifications?limit=1").await);
    assert_eq!((first["hasMore"].clone(), first["items"].as_array().unwrap().len()), (json!(true), 1));
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = data(&api.get(&format!("/notifications?limit=1&cursor={cursor}")).await);
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
}

/// Reads the stream until a `notification.created` arrives.
async fn next_created(res: &mut reqwest::Response, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.ok()?.ok()??;
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(block) = text.split("\n\n").find(|b| b.contains("event: notification.created")) {
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            return Some(serde_json::from_str(data).unwrap());
        }
    }
}

#[tokio::test]
async fn the_stream_delivers_new_notifications_also_from_another_process() {
    let mut o = org_with_member().await;
    notifications::notify(&o.server.ctx, o.id, None, "schedule.failed", failed("Before")).await.unwrap();
    let url = format!("{}/api/v1/notifications/stream", o.server.base);
    let mut res = reqwest::Client::new().get(&url).bearer_auth(&o.key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    tokio::time::sleep(Duration::from_millis(100)).await;

    notifications::notify(&o.server.ctx, o.id, None, "schedule.failed", failed("Now")).await.unwrap();
    let seen = next_created(&mut res, Duration::from_secs(5)).await.expect("a notification.created");
    assert_eq!(seen["title"], "Schedule “Now” failed", "only what came after the stream opened");

    // A second server process on the same PostgreSQL writes one.
    if postgres_url().is_some() {
        let shared = o.server.database_url.clone();
        // What travels between the processes: the row's trigger NOTIFYs.
        let mut listener = sqlx::postgres::PgListener::connect(&shared).await.unwrap();
        listener.listen(app::domain::events::CHANNEL).await.unwrap();
        let other = start_with(move |s| s.database_url = Some(shared)).await;
        // This process's unread count is cached; the other's write drops it.
        assert_eq!(inbox(&mut o.owner, &o.slug, "").await["unreadCount"], 2);
        notifications::notify(&other.ctx, o.id, None, "schedule.failed", failed("Elsewhere")).await.unwrap();
        let seen = next_created(&mut res, Duration::from_secs(5)).await.expect("the other process's");
        assert_eq!(seen["title"], "Schedule “Elsewhere” failed");
        // The stream may have found the row by looking before the NOTIFY
        // arrived: a moment's grace, well inside the cache's TTL.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while inbox(&mut o.owner, &o.slug, "").await["unreadCount"] != 3 {
            assert!(tokio::time::Instant::now() < deadline, "the other process's notification counts here too");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut payloads = Vec::new();
        while let Ok(Ok(note)) = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await {
            payloads.push(note.payload().to_string());
        }
        assert!(payloads.contains(&format!("notification:{}", o.id)), "{payloads:?}");
    }
}
