use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

/// Alice owns an org; Bob joined it through an invite as `role`.
async fn org_with_two(server: &TestServer, role: &str) -> (Browser, Browser, String, String) {
    let mut alice = Browser::new(server);
    alice.sign_up(&email("alice")).await;
    let slug = slug("team");
    alice.create_org(&slug).await;
    let invite = alice.call("create_invite", &[("org", &slug), ("role", role)]).await;
    assert_eq!(invite.status, StatusCode::OK, "{}", invite.body);
    let url = invite.json()["url"].as_str().unwrap().to_string();
    let token = url.rsplit('/').next().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/invite/", server.public_url)));

    let mut bob = Browser::new(server);
    bob.sign_up(&email("bob")).await;
    let preview = bob.call("get_invite_preview", &[("token", &token)]).await.json();
    assert_eq!(preview["orgSlug"], slug.as_str());
    assert_eq!(preview["role"], role);
    let joined = bob.call("accept_invite", &[("token", &token)]).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let bob_id = member_id(&mut alice, &slug, 1).await;
    (alice, bob, slug, bob_id)
}

async fn members(b: &mut Browser, slug: &str) -> Value {
    let a = b.call("get_members_page", &[("org", slug)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.json()
}

async fn member_id(b: &mut Browser, slug: &str, index: usize) -> String {
    members(b, slug).await["members"][index]["userId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn invite_links_add_members_once() {
    let server = start().await;
    let (mut alice, mut bob, slug, _) = org_with_two(&server, "member").await;
    let list = members(&mut alice, &slug).await;
    let roles: Vec<&str> = list["members"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["owner", "member"]);
    assert_eq!(bob.page(&format!("/{slug}")).await.status, StatusCode::OK, "the new member sees the org");

    // A link works once.
    let invite = alice.call("create_invite", &[("org", &slug), ("role", "member")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let mut carol = Browser::new(&server);
    carol.sign_up(&email("carol")).await;
    assert_eq!(carol.call("accept_invite", &[("token", &token)]).await.status, StatusCode::OK);
    let mut dave = Browser::new(&server);
    dave.sign_up(&email("dave")).await;
    assert_eq!(dave.call("accept_invite", &[("token", &token)]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(dave.call("accept_invite", &[("token", "not-a-token")]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(audit_count(&server, "member.invite").await, 2);
    assert_eq!(audit_count(&server, "member.join").await, 2);
}

#[tokio::test]
async fn members_cannot_manage_members() {
    let server = start().await;
    let (mut alice, mut bob, slug, _) = org_with_two(&server, "member").await;
    let invite = bob.call("create_invite", &[("org", &slug), ("role", "member")]).await;
    assert_eq!(invite.status, StatusCode::FORBIDDEN);
    let alice_id = member_id(&mut alice, &slug, 0).await;
    let demote = bob.call("change_member_role", &[("org", &slug), ("user_id", &alice_id), ("role", "member")]).await;
    assert_eq!(demote.status, StatusCode::FORBIDDEN);
    assert_eq!(
        bob.call("remove_member", &[("org", &slug), ("user_id", &alice_id)]).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(members(&mut bob, &slug).await["invites"].as_array().unwrap().is_empty(), "members do not see invites");
}

#[tokio::test]
async fn roles_change_and_admins_cannot_touch_owners() {
    let server = start().await;
    let (mut alice, mut bob, slug, bob_id) = org_with_two(&server, "member").await;
    let up = alice.call("change_member_role", &[("org", &slug), ("user_id", &bob_id), ("role", "admin")]).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    assert_eq!(members(&mut alice, &slug).await["members"][1]["role"], "admin");

    // An admin may invite, but not hand out or take away ownership.
    assert_eq!(bob.call("create_invite", &[("org", &slug), ("role", "admin")]).await.status, StatusCode::OK);
    assert_eq!(bob.call("create_invite", &[("org", &slug), ("role", "owner")]).await.status, StatusCode::FORBIDDEN);
    let alice_id = member_id(&mut alice, &slug, 0).await;
    let demote = bob.call("change_member_role", &[("org", &slug), ("user_id", &alice_id), ("role", "member")]).await;
    assert_eq!(demote.status, StatusCode::FORBIDDEN);
    let self_promote = bob.call("change_member_role", &[("org", &slug), ("user_id", &bob_id), ("role", "owner")]).await;
    assert_eq!(self_promote.status, StatusCode::FORBIDDEN);
    let bad_role = alice.call("change_member_role", &[("org", &slug), ("user_id", &bob_id), ("role", "king")]).await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(audit_count(&server, "member.role_change").await, 1);
}

#[tokio::test]
async fn the_last_owner_can_be_neither_removed_nor_demoted() {
    let server = start().await;
    let (mut alice, mut bob, slug, bob_id) = org_with_two(&server, "member").await;
    let alice_id = member_id(&mut alice, &slug, 0).await;
    let demote = alice.call("change_member_role", &[("org", &slug), ("user_id", &alice_id), ("role", "admin")]).await;
    assert_eq!(demote.status, StatusCode::CONFLICT);
    assert!(demote.json()["message"].as_str().unwrap().contains("at least one owner"));
    let leave = alice.call("remove_member", &[("org", &slug), ("user_id", &alice_id)]).await;
    assert_eq!(leave.status, StatusCode::CONFLICT);

    // With a second owner, the first may step down.
    let promote = alice.call("change_member_role", &[("org", &slug), ("user_id", &bob_id), ("role", "owner")]).await;
    assert_eq!(promote.status, StatusCode::OK);
    let step_down =
        alice.call("change_member_role", &[("org", &slug), ("user_id", &alice_id), ("role", "member")]).await;
    assert_eq!(step_down.status, StatusCode::OK, "{}", step_down.body);
    let bob_demote = bob.call("change_member_role", &[("org", &slug), ("user_id", &bob_id), ("role", "admin")]).await;
    assert_eq!(bob_demote.status, StatusCode::CONFLICT, "bob is now the last owner");
}

#[tokio::test]
async fn removed_members_lose_access_and_members_may_leave() {
    let server = start().await;
    let (mut alice, mut bob, slug, bob_id) = org_with_two(&server, "member").await;
    let minted = bob.call("mint_api_key", &[("org", &slug), ("name", "bob's key")]).await;
    let bob_key = Api::new(&server, Some(minted.json()["secret"].as_str().unwrap()));
    assert_eq!(bob_key.get("/projects").await.status, StatusCode::OK, "the key works (and is now cached)");
    let removed = alice.call("remove_member", &[("org", &slug), ("user_id", &bob_id)]).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(bob.page(&format!("/{slug}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        bob_key.get("/projects").await.status,
        StatusCode::UNAUTHORIZED,
        "and stops at once with his membership"
    );
    assert_eq!(audit_count(&server, "member.remove").await, 1);

    // Someone who joins may leave again on their own.
    let invite = alice.call("create_invite", &[("org", &slug), ("role", "member")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(bob.call("accept_invite", &[("token", &token)]).await.status, StatusCode::OK);
    let left = bob.call("remove_member", &[("org", &slug), ("user_id", &bob_id)]).await;
    assert_eq!(left.status, StatusCode::OK);
    assert_eq!(audit_count(&server, "member.leave").await, 1);
    assert_eq!(members(&mut alice, &slug).await["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoked_invites_stop_working() {
    let server = start().await;
    let mut alice = Browser::new(&server);
    alice.sign_up(&email("alice")).await;
    let slug = slug("rev");
    alice.create_org(&slug).await;
    let invite = alice.call("create_invite", &[("org", &slug), ("role", "member")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let pending = members(&mut alice, &slug).await["invites"].clone();
    let id = pending[0]["id"].as_str().unwrap().to_string();
    assert_eq!(alice.call("revoke_invite", &[("org", &slug), ("invite_id", &id)]).await.status, StatusCode::OK);
    let mut bob = Browser::new(&server);
    bob.sign_up(&email("bob")).await;
    assert_eq!(bob.call("accept_invite", &[("token", &token)]).await.status, StatusCode::NOT_FOUND);
}
