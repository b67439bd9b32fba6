//! The canvas and its share links (SPEC §15): blocks CRUD with positions,
//! blocks an agent writes with the `canvas` tools, another org's ids as
//! 404, and a share link's life: browser-only with step-up, the public
//! page without sign-in (what it shows and what it never does), disable →
//! 404, re-enable → a new token with the old one dead, expiry, views, and
//! HTML blocks only in a sandboxed frame at a signed URL.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fake_provider::{FakeToolCall, Scripted};
use crate::sessions::{setup, Setup};
use crate::support::*;

fn blocks_path(t: &Setup) -> String {
    format!("/projects/{}/blocks", t.project)
}

async fn add(t: &Setup, body: Value) -> Value {
    let made = t.api.post(&blocks_path(t), body).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    data(&made)
}

/// GET without any cookie or key, as anyone holding the link.
async fn anonymous(t: &Setup, path: &str) -> Answer {
    let res = reqwest::get(format!("{}{path}", t.server.base)).await.unwrap();
    Answer { status: res.status(), headers: res.headers().clone(), body: res.text().await.unwrap() }
}

async fn enable(t: &mut Setup, body: Value) -> Value {
    let path = format!("/api/v1/projects/{}/share?org={}", t.project, t.org);
    let made = t.browser.api(Method::POST, &path, body).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    data(&made)
}

#[tokio::test]
async fn blocks_are_created_placed_changed_and_deleted() {
    let t = setup().await;
    let first = add(&t, json!({ "kind": "markdown", "content": "# Plan" })).await;
    assert_eq!(first["position"], json!({ "x": 0, "y": 0, "w": 480, "h": 320 }), "the first goes top left");
    assert_eq!(first["createdBy"]["kind"], "user");
    let second = add(&t, json!({ "kind": "code", "content": "fn main() {}" })).await;
    assert_eq!(second["position"]["y"], 344, "the next goes under the lowest, with a gap");
    let placed = add(
        &t,
        json!({ "kind": "html", "content": "<p>hi</p>", "position": { "x": 600, "y": 10, "w": 300, "h": 200 } }),
    )
    .await;
    assert_eq!(placed["position"], json!({ "x": 600, "y": 10, "w": 300, "h": 200 }));

    let id = first["id"].as_str().unwrap();
    let path = format!("{}/{id}", blocks_path(&t));
    let moved = data(&t.api.patch(&path, json!({ "position": { "x": 40, "y": 900, "w": 500, "h": 100 } })).await);
    assert_eq!((moved["content"].as_str(), moved["position"]["y"].as_i64()), (Some("# Plan"), Some(900)));
    let edited = data(&t.api.patch(&path, json!({ "content": "# Plan B" })).await);
    assert_eq!((edited["content"].as_str(), edited["position"]["y"].as_i64()), (Some("# Plan B"), Some(900)));
    assert_eq!(data(&t.api.get(&path).await)["content"], "# Plan B");

    let page = data(&t.api.get(&blocks_path(&t)).await);
    let ids: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|b| &b["id"]).collect();
    assert_eq!(ids, vec![&placed["id"], &second["id"], &first["id"]], "newest first");

    assert_eq!(data(&t.api.delete(&path).await)["id"], first["id"]);
    assert_eq!(t.api.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(data(&t.api.get(&blocks_path(&t)).await)["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_blocks_are_refused_naming_the_field_and_nothing_is_written() {
    let t = setup().await;
    let refused = [
        (json!({ "kind": "video", "content": "x" }), "kind"),
        (
            json!({ "kind": "markdown", "content": "x", "position": { "x": -1, "y": 0, "w": 100, "h": 100 } }),
            "position",
        ),
        (json!({ "kind": "markdown", "content": "x", "position": { "x": 0, "y": 0, "w": 10, "h": 100 } }), "position"),
        (json!({ "kind": "markdown", "content": "x".repeat(100_001) }), "content"),
        (json!({ "kind": "session", "content": "not an id" }), "content"),
        (json!({ "kind": "session", "content": uuid::Uuid::new_v4().to_string() }), "content"),
    ];
    for (body, field) in refused {
        let a = t.api.post(&blocks_path(&t), body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", a.body);
        assert_eq!(a.json()["error"]["details"]["field"], field, "{}", a.body);
    }
    assert_eq!(data(&t.api.get(&blocks_path(&t)).await)["items"], json!([]));
    // A session of the project is a session block.
    let session = t.session().await;
    let block = add(&t, json!({ "kind": "session", "content": session })).await;
    assert_eq!(block["content"], session.as_str());
    let a =
        t.api.patch(&format!("{}/{}", blocks_path(&t), block["id"].as_str().unwrap()), json!({ "kind": "code" })).await;
    assert!(a.status.is_client_error(), "the kind stays: {}", a.body);
}

#[tokio::test]
async fn an_agent_writes_blocks_with_the_canvas_tools_and_the_block_says_which() {
    let t = setup().await;
    let session = t.session().await;
    add(&t, json!({ "kind": "markdown", "content": "Notes by a person" })).await;
    t.fake.push(Scripted::tool_calls(vec![
        FakeToolCall::new("c1", "canvas_list", &["{}"]),
        FakeToolCall::new("c2", "canvas_write", &[r#"{"kind": "markdown", "content": "Summary by the agent"}"#]),
    ]));
    t.fake.push(Scripted::text(&["I added a summary."]));
    let answer = data(&t.say(&session, "Summarise the canvas").await);
    assert_eq!(answer["message"]["content"], "I added a summary.");
    // The model saw the person's block, and the new one is the agent's.
    let sent = t.fake.requests();
    let tool_message: Vec<Value> = sent.last().unwrap().body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .cloned()
        .collect();
    assert!(tool_message[0]["content"].as_str().unwrap().contains("Notes by a person"), "{tool_message:?}");
    let blocks = data(&t.api.get(&blocks_path(&t)).await)["items"].as_array().unwrap().clone();
    let by_agent = blocks.iter().find(|b| b["content"] == "Summary by the agent").expect("the agent's block");
    assert_eq!(by_agent["createdBy"], json!({ "kind": "agent", "id": t.agent, "name": "Helper" }));
    assert_eq!(by_agent["position"]["y"], 344, "placed under the person's");
}

#[tokio::test]
async fn another_orgs_blocks_and_links_are_404() {
    let mut t = setup().await;
    let block = add(&t, json!({ "kind": "markdown", "content": "Ours" })).await;
    let link = enable(&mut t, json!({})).await;
    let (_b, _org, other_key) = owner_with_key(&t.server, &[]).await;
    let other = Api::new(&t.server, Some(&other_key));
    let path = format!("{}/{}", blocks_path(&t), block["id"].as_str().unwrap());
    assert_eq!(other.get(&blocks_path(&t)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other.post(&blocks_path(&t), json!({ "kind": "markdown", "content": "x" })).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.patch(&path, json!({ "content": "theirs" })).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.delete(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(data(&other.get("/share-links").await)["items"], json!([]));
    assert_eq!(data(&t.api.get(&path).await)["content"], "Ours", "nothing changed");
    let ours = data(&t.api.get("/share-links").await);
    assert_eq!(ours["items"][0]["id"], link["link"]["id"]);
}

#[tokio::test]
async fn a_share_link_shows_the_canvas_without_sign_in_until_it_is_disabled() {
    let mut t = setup().await;
    add(&t, json!({ "kind": "markdown", "content": "# Launch plan\n\n<script>alert(1)</script>" })).await;
    add(&t, json!({ "kind": "code", "content": "let x = 1 < 2;" })).await;
    // An API key may not share.
    let by_key = t.api.post(&format!("/projects/{}/share", t.project), json!({})).await;
    assert_eq!(by_key.status, StatusCode::FORBIDDEN, "{}", by_key.body);

    let minted = enable(&mut t, json!({})).await;
    let path = minted["path"].as_str().unwrap().to_string();
    let token = path.strip_prefix("/share/").unwrap().to_string();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert_eq!(minted["url"], format!("{}{path}", t.server.public_url));
    assert!(!data(&t.api.get("/share-links").await).to_string().contains(&token), "the list never holds the token");

    let page = anonymous(&t, &path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Launch plan</h1>"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;") && !page.body.contains("<script"), "no script of any kind");
    assert!(page.body.contains("let x = 1 &lt; 2;"));
    assert!(page.body.contains(r#"<meta name="robots" content="noindex, nofollow">"#));
    assert_eq!(page.headers["x-robots-tag"], "noindex, nofollow");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    assert!(!page.body.contains("@example.com"), "no member's email");
    assert!(!page.body.contains("Helper") || !page.body.contains("Be brief"), "no agent internals");
    anonymous(&t, &path).await;
    let listed = data(&t.api.get("/share-links").await)["items"][0].clone();
    assert_eq!((listed["views"].as_i64(), listed["projectName"].as_str()), (Some(2), Some("Lab")));

    // Every way a link does not open answers the same page.
    let wrong = anonymous(&t, &format!("/share/{}", "A".repeat(43))).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let share = format!("/api/v1/projects/{}/share?org={}", t.project, t.org);
    assert_eq!(t.browser.api(Method::DELETE, &share, json!({})).await.status, StatusCode::OK);
    let disabled = anonymous(&t, &path).await;
    assert_eq!((disabled.status, &disabled.body), (StatusCode::NOT_FOUND, &wrong.body));
    assert_eq!(data(&t.api.get("/share-links").await)["items"], json!([]));
    assert_eq!(t.browser.api(Method::DELETE, &share, json!({})).await.status, StatusCode::NOT_FOUND, "not shared");

    // Enabled again: a new token; the old link stays dead.
    let again = enable(&mut t, json!({})).await;
    assert_ne!(again["path"], minted["path"]);
    assert_eq!(anonymous(&t, again["path"].as_str().unwrap()).await.status, StatusCode::OK);
    assert_eq!(anonymous(&t, &path).await.status, StatusCode::NOT_FOUND);
    // A deleted project's link is the same 404.
    assert_eq!(t.api.delete(&format!("/projects/{}", t.project)).await.status, StatusCode::OK);
    let gone = anonymous(&t, again["path"].as_str().unwrap()).await;
    assert_eq!((gone.status, &gone.body), (StatusCode::NOT_FOUND, &wrong.body));
    assert!(audit_count(&t.server, "share.enable").await >= 2);
    assert!(audit_count(&t.server, "share.disable").await >= 1);
}

#[tokio::test]
async fn a_shared_canvas_places_its_blocks_as_the_canvas_does_under_its_policy() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut t = setup().await;
    let at = |x: i64, y: i64, w: i64, h: i64| json!({ "x": x, "y": y, "w": w, "h": h });
    add(&t, json!({ "kind": "markdown", "content": "right", "position": at(600, 40, 300, 200) })).await;
    add(&t, json!({ "kind": "markdown", "content": "left", "position": at(0, 40, 500, 400) })).await;
    let path = enable(&mut t, json!({})).await["path"].as_str().unwrap().to_string();
    let page = anonymous(&t, &path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    // In reading order (left, then right), each with its place on a wide screen.
    let left = page.body.find("<p>left</p>").unwrap();
    assert!(left < page.body.find("<p>right</p>").unwrap(), "{}", page.body);
    assert!(page.body.contains("#b0{left:24px;top:64px;width:500px;height:400px}"), "{}", page.body);
    assert!(page.body.contains("#b1{left:624px;top:64px;width:300px;height:200px}"), "{}", page.body);
    assert!(page.body.contains("width:900px;height:440px"), "the board holds both: {}", page.body);

    // Both stylesheets, and nothing else, are allowed by their hashes.
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    let sheets: Vec<&str> =
        page.body.split("<style>").skip(1).map(|rest| rest.split("</style>").next().unwrap()).collect();
    assert_eq!(sheets.len(), 2, "{}", page.body);
    for sheet in sheets {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(sheet.as_bytes()));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !page.body.contains("style=\""), "{csp}");
}

#[tokio::test]
async fn a_link_with_an_expiry_stops_then_and_a_revoked_one_at_once() {
    let mut t = setup().await;
    let bad = t
        .browser
        .api(
            Method::POST,
            &format!("/api/v1/projects/{}/share?org={}", t.project, t.org),
            json!({ "expiresInDays": 0 }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let minted = enable(&mut t, json!({ "expiresInDays": 1 })).await;
    let path = minted["path"].as_str().unwrap().to_string();
    assert!(minted["link"]["expiresAt"].is_string());
    assert_eq!(anonymous(&t, &path).await.status, StatusCode::OK);
    t.server.ctx.clock.advance(chrono::Duration::hours(25));
    assert_eq!(anonymous(&t, &path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(data(&t.api.get("/share-links").await)["items"], json!([]), "an expired link is not live");

    t.browser.step_up().await;
    let minted = enable(&mut t, json!({})).await;
    let id = minted["link"]["id"].as_str().unwrap();
    let by_key = t.api.delete(&format!("/share-links/{id}")).await;
    assert_eq!(by_key.status, StatusCode::FORBIDDEN);
    let revoked = t.browser.api(Method::DELETE, &format!("/api/v1/share-links/{id}?org={}", t.org), json!({})).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(anonymous(&t, minted["path"].as_str().unwrap()).await.status, StatusCode::NOT_FOUND);
}

/// An HTML block is never inline: a sandboxed frame at a signed URL that
/// expires, whose answer is an opaque origin that only our pages frame.
#[tokio::test]
async fn html_blocks_are_framed_in_a_sandbox_at_a_signed_url() {
    let mut t = setup().await;
    let block =
        add(&t, json!({ "kind": "html", "content": "<h2>Mockup</h2><script>document.title = 'ran'</script>" })).await;
    let minted = enable(&mut t, json!({})).await;
    let page = anonymous(&t, minted["path"].as_str().unwrap()).await;
    assert!(!page.body.contains("<h2>Mockup</h2>"), "not inline");
    let start = page.body.find("src=\"/frames/").expect("a frame") + 5;
    let src = page.body[start..page.body[start..].find('"').unwrap() + start].replace("&amp;", "&");
    assert!(page.body.contains(r#"<iframe sandbox="allow-scripts""#), "{}", page.body);

    let frame = anonymous(&t, &src).await;
    assert_eq!(frame.status, StatusCode::OK, "{}", frame.body);
    assert!(frame.body.contains("<h2>Mockup</h2>"));
    let csp = frame.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("sandbox allow-scripts;") && csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(!csp.contains("allow-same-origin"), "{csp}");
    assert_eq!(frame.headers["x-frame-options"], "SAMEORIGIN");

    let tampered = src.replace("&s=", "&s=x");
    assert_eq!(anonymous(&t, &tampered).await.status, StatusCode::FORBIDDEN);
    let other = add(&t, json!({ "kind": "html", "content": "<p>other</p>" })).await;
    let borrowed = src.replace(block["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    assert_eq!(anonymous(&t, &borrowed).await.status, StatusCode::FORBIDDEN, "another block's signature");
    // The share page's frames stop with its link.
    let share = format!("/api/v1/projects/{}/share?org={}", t.project, t.org);
    assert_eq!(t.browser.api(Method::DELETE, &share, json!({})).await.status, StatusCode::OK);
    assert_eq!(anonymous(&t, &src).await.status, StatusCode::FORBIDDEN, "the link is off");
    let dropped = format!("{}&s={}", src.split("&l=").next().unwrap(), src.split("&s=").nth(1).unwrap());
    assert_eq!(anonymous(&t, &dropped).await.status, StatusCode::FORBIDDEN, "its link left out");
    let minted = enable(&mut t, json!({})).await;
    let page = anonymous(&t, minted["path"].as_str().unwrap()).await;
    let start = page.body.find("src=\"/frames/").unwrap() + 5;
    let src = page.body[start..page.body[start..].find('"').unwrap() + start].replace("&amp;", "&");
    assert_eq!(anonymous(&t, &src).await.status, StatusCode::OK);
    t.server.ctx.clock.advance(chrono::Duration::hours(2));
    assert_eq!(anonymous(&t, &src).await.status, StatusCode::FORBIDDEN, "expired");
}
