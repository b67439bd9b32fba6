//! Signed-in pages resolve the browser session and the viewer's
//! memberships from short-lived in-process caches (`domain::cache`,
//! `sessions::DbSessionStore`). Every test here warms them with a page
//! first, then makes a change in this process and expects the very next
//! request to see it: no waiting for a TTL.

use chrono::Duration;
use reqwest::StatusCode;

use crate::support::*;

fn to_login(a: &Answer) -> bool {
    a.status == StatusCode::FOUND && a.location().is_some_and(|l| l.starts_with("/login"))
}

/// A signed-up owner of a new org (stepped up by their passkey), whose
/// org page has been rendered once, so everything it reads is cached.
async fn owner_on_page(server: &TestServer) -> (Browser, String) {
    let mut b = Browser::new(server);
    b.sign_up(&email("cache")).await;
    let org = slug("cache");
    b.create_org(&org).await;
    let page = b.page(&format!("/{org}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (b, org)
}

#[tokio::test]
async fn a_signed_out_cookie_is_refused_at_once() {
    let server = start().await;
    let (mut b, org) = owner_on_page(&server).await;
    assert_eq!(b.page(&format!("/{org}/billing")).await.status, StatusCode::OK);
    let cookie = b.cookie.clone();

    assert_eq!(b.call("sign_out", &[]).await.status, StatusCode::OK);
    let mut replay = Browser::new(&server);
    replay.cookie = cookie;
    assert!(to_login(&replay.page(&format!("/{org}")).await), "the signed-out cookie opens no page");
    assert!(to_login(&replay.page(&format!("/{org}/billing")).await));
    assert_eq!(replay.call("get_org_context", &[("org", &org)]).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_other_sessions_ends_them_at_once() {
    let server = start().await;
    let (mut laptop, org) = owner_on_page(&server).await;
    let address = laptop.call("whoami", &[]).await.json().as_str().unwrap().to_string();
    let mut phone = Browser::new(&server);
    assert_eq!(phone.call("sign_in", &[("email", &address), ("password", PASSWORD)]).await.status, StatusCode::OK);
    assert_eq!(phone.page(&format!("/{org}")).await.status, StatusCode::OK, "the phone's session is cached too");

    assert_eq!(laptop.call("sign_out_other_sessions", &[]).await.json(), serde_json::json!(1));
    assert!(to_login(&phone.page(&format!("/{org}")).await), "the phone's next page is sign-in");
    assert_eq!(phone.call("get_billing_page", &[("org", &org)]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(laptop.page(&format!("/{org}")).await.status, StatusCode::OK, "this session stays");
}

#[tokio::test]
async fn membership_changes_apply_to_the_next_page() {
    let server = start().await;
    let (mut alice, org) = owner_on_page(&server).await;
    let mut bob = Browser::new(&server);
    bob.sign_up(&email("bob")).await;
    // Bob's viewer (no orgs) is cached by the 404.
    assert_eq!(bob.page(&format!("/{org}")).await.status, StatusCode::NOT_FOUND);

    let invite = alice.call("create_invite", &[("org", &org), ("role", "admin")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(bob.call("accept_invite", &[("token", &token)]).await.status, StatusCode::OK);
    assert_eq!(bob.page(&format!("/{org}")).await.status, StatusCode::OK, "joining opens the org at once");
    let billing = bob.call("get_billing_page", &[("org", &org)]).await;
    assert_eq!(billing.json()["mayManage"], true, "{}", billing.body);

    let members = alice.call("get_members_page", &[("org", &org)]).await.json();
    let bob_id = members["members"][1]["userId"].as_str().unwrap().to_string();
    let demoted = alice.call("change_member_role", &[("org", &org), ("user_id", &bob_id), ("role", "member")]).await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    assert_eq!(bob.call("get_billing_page", &[("org", &org)]).await.json()["mayManage"], false, "a new role at once");
    let context = bob.call("get_org_context", &[("org", &org)]).await.json();
    assert_eq!(context["org"]["role"], "member");

    assert_eq!(alice.call("remove_member", &[("org", &org), ("user_id", &bob_id)]).await.status, StatusCode::OK);
    assert_eq!(bob.page(&format!("/{org}")).await.status, StatusCode::NOT_FOUND, "a removal closes it at once");
    assert_eq!(bob.page(&format!("/{org}/billing")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.call("get_org_context", &[("org", &org)]).await.status, StatusCode::NOT_FOUND);

    // A new org is in the switcher and open at once.
    let second = slug("second");
    alice.create_org(&second).await;
    assert_eq!(alice.page(&format!("/{second}")).await.status, StatusCode::OK);
    let context = alice.call("get_org_context", &[("org", &org)]).await.json();
    assert_eq!(context["orgs"].as_array().unwrap().len(), 2, "{context}");
}

#[tokio::test]
async fn a_step_up_takes_effect_at_once() {
    let server = start().await;
    let (mut b, org) = owner_on_page(&server).await;
    server.ctx.clock.advance(Duration::seconds(601));
    // The stale step-up is read (and cached) by a page and a refused call.
    assert_eq!(b.page(&format!("/{org}")).await.status, StatusCode::OK);
    let refused = b.call("mint_api_key", &[("org", &org), ("name", "k")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.json()["details"]["stepUp"], "required");

    assert_eq!(b.step_up().await.status, StatusCode::OK);
    let minted = b.call("mint_api_key", &[("org", &org), ("name", "k")]).await;
    assert_eq!(minted.status, StatusCode::OK, "the new step-up counts at once: {}", minted.body);
    assert_eq!(b.page(&format!("/{org}/developers")).await.status, StatusCode::OK);
}

/// The sidebar's unread badge (on every org page) is cached too: a
/// notification a charge writes, and the member reading everything, show
/// on the very next page.
#[tokio::test]
async fn the_unread_badge_follows_notifications_at_once() {
    use app::domain::billing::{self, Deposit, DepositKind, MICROS_PER_CREDIT};
    let server = start().await;
    let (mut b, org) = owner_on_page(&server).await;
    let badge = |page: &Answer| page.body.contains(r#"data-testid="unread-badge""#);
    let skills = format!("/{org}/skills");
    assert!(!badge(&b.page(&skills).await), "nothing unread yet");

    // The last credit spent: "credits ran out", written by the charge.
    let ctx = &server.ctx;
    let org_id = app::domain::orgs::find_by_slug(ctx, &org).await.unwrap().unwrap();
    let purchase = Deposit {
        org_id,
        kind: DepositKind::Purchase,
        source_ref: "pi_badge",
        micros: MICROS_PER_CREDIT,
        expires_at: None,
        actor_user_id: None,
        reason: None,
    };
    billing::deposit(ctx, purchase).await.unwrap();
    billing::debit(ctx, org_id, "badge-usage", MICROS_PER_CREDIT).await.unwrap();
    let page = b.page(&skills).await;
    assert!(badge(&page), "the charge's notification shows at once");
    let badge_text = page.body.split(r#"data-testid="unread-badge""#).nth(1).unwrap();
    let shown = &badge_text[badge_text.find('>').unwrap() + 1..];
    assert!(shown.starts_with("1<"), "one unread: {}", &shown[..40.min(shown.len())]);

    let read =
        b.api(reqwest::Method::POST, &format!("/api/v1/notifications/read-all?org={org}"), serde_json::json!({})).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(!badge(&b.page(&skills).await), "read: the badge goes at once");
}

/// The overview's figures and activity, the agents list with each one's
/// last run and the billing page's balance and ledger are kept in memory
/// on SQLite until a commit writes a table they were read from, whichever
/// code path wrote it (`db::changes`): a run, its charge, an agent made or
/// deleted over `/api/v1` each show on the very next page.
#[tokio::test]
async fn page_data_follows_runs_charges_and_agents_at_once() {
    use crate::fake_provider::Scripted;
    use serde_json::json;

    let mut t = crate::sessions::setup().await;
    let org = t.org.clone();
    let overview = format!("/{org}");
    let shown_agents = |body: &str| -> String {
        let card = body.split(r#"data-testid="overview-agents""#).nth(1).expect("the agents card");
        card[card.find('>').unwrap() + 1..].split('<').next().unwrap().to_string()
    };
    let agents_named = |list: &serde_json::Value| -> Vec<String> {
        list["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_string()).collect()
    };
    // Warm every cache the pages read.
    let page = t.browser.page(&overview).await;
    assert!(page.body.contains("0 runs in the last 30 days"), "{}", page.body);
    assert_eq!(t.browser.page(&format!("/{org}/agents")).await.status, StatusCode::OK);
    assert_eq!(t.browser.page(&format!("/{org}/billing")).await.status, StatusCode::OK);
    let billing = t.browser.call("get_billing_page", &[("org", &org)]).await.json();
    let balance = billing["summary"]["balance"].clone();
    assert_eq!(t.browser.call("list_agent_last_runs", &[("org", &org)]).await.json(), json!([]));

    // A run and its charge (the run's writes go through the SQLite writer).
    let session = t.session().await;
    t.fake.push(Scripted::text(&["Hi."]));
    assert_eq!(t.say(&session, "Hello").await.status, StatusCode::OK);
    let page = t.browser.page(&overview).await;
    assert!(page.body.contains("1 run in the last 30 days"), "the run counts at once: {}", page.body);
    let last = t.browser.call("list_agent_last_runs", &[("org", &org)]).await.json();
    assert_eq!(last[0]["status"], "completed", "{last}");
    let billing = t.browser.call("get_billing_page", &[("org", &org)]).await.json();
    assert_ne!(billing["summary"]["balance"], balance, "the charge shows at once: {billing}");
    assert_eq!(billing["recent"][0]["kind"], "usage", "{billing}");

    // An agent made, then deleted, over /api/v1: the list, the count and
    // the activity follow each.
    let created = t.api.post("/agents", json!({ "name": "Second", "model": "fake/big" })).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = data(&created)["id"].as_str().unwrap().to_string();
    let list = t.browser.call("list_agents", &[("org", &org)]).await.json();
    assert_eq!(agents_named(&list), ["Second", "Helper"], "{list}");
    let page = t.browser.page(&overview).await;
    assert_eq!(shown_agents(&page.body), "2", "the new agent counts at once");
    let activity = page.body.split("Recent activity").nth(1).unwrap();
    assert_eq!(activity.matches(">agent.create<").count(), 2, "the new agent's audit row shows: {activity}");

    assert_eq!(t.api.delete(&format!("/agents/{id}")).await.status, StatusCode::OK);
    let list = t.browser.call("list_agents", &[("org", &org)]).await.json();
    assert_eq!(agents_named(&list), ["Helper"], "{list}");
    let page = t.browser.page(&overview).await;
    assert_eq!(shown_agents(&page.body), "1", "the deleted agent no longer counts");
}
