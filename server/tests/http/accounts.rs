use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn sign_up_sign_out_and_sign_in_again() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let address = email("ada");
    b.sign_up(&address.to_uppercase()).await;
    assert!(b.cookie.is_some(), "signing up starts a session");
    let me = b.call("whoami", &[]).await;
    assert_eq!(me.json(), serde_json::json!(address), "emails are stored normalised");

    let out = b.call("sign_out", &[]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(b.call("whoami", &[]).await.json(), serde_json::Value::Null);
    assert_eq!(b.call("get_security_page", &[]).await.status, StatusCode::UNAUTHORIZED);

    let wrong = b.call("sign_in", &[("email", &address), ("password", "not the password")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["message"], "Invalid email or password");
    let unknown = b.call("sign_in", &[("email", "nobody@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(unknown.json()["message"], "Invalid email or password", "unknown accounts look like wrong passwords");

    let ok = b.call("sign_in", &[("email", &format!("  {address} ")), ("password", PASSWORD)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(b.call("whoami", &[]).await.json(), serde_json::json!(address));

    assert_eq!(audit_count(&server, "account.sign_up").await, 1);
    assert_eq!(audit_count(&server, "account.sign_in").await, 1);
    assert_eq!(audit_count(&server, "account.sign_in_failed").await, 2);
    assert_eq!(audit_count(&server, "account.sign_out").await, 1);
}

#[tokio::test]
async fn sign_up_refuses_bad_input_with_clear_errors() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let short = b.call("sign_up", &[("email", "bo@example.com"), ("password", "short")]).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.json()["details"]["field"], "password");
    assert!(short.json()["message"].as_str().unwrap().contains("at least 10"));

    let bad = b.call("sign_up", &[("email", "not-an-email"), ("password", PASSWORD)]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["details"]["field"], "email");

    let missing = b.call("sign_up", &[("email", "x@example.com")]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);

    let address = email("dup");
    b.sign_up(&address).await;
    let mut other = Browser::new(&server);
    let dup = other.call("sign_up", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert!(dup.json()["message"].as_str().unwrap().contains("already exists"));
}

#[tokio::test]
async fn session_id_rotates_at_sign_in_and_old_one_is_dead() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let address = email("rot");
    b.sign_up(&address).await;
    let first = b.cookie.clone().unwrap();
    let again = b.call("sign_in", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(again.status, StatusCode::OK);
    let second = b.cookie.clone().unwrap();
    assert_ne!(first, second, "sign-in issues a new session id");

    let mut stale = Browser::new(&server);
    stale.cookie = Some(first);
    assert_eq!(stale.call("whoami", &[]).await.json(), serde_json::Value::Null, "the pre-sign-in id is gone");
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account_and_ip() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let address = email("rl");
    b.sign_up(&address).await;
    b.call("sign_out", &[]).await;
    for _ in 0..5 {
        let a = b.call("sign_in", &[("email", &address), ("password", "wrong password!")]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let limited = b.call("sign_in", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After in seconds, got {retry}");
    assert!(limited.json()["message"].as_str().unwrap().starts_with("Too many attempts"));
    // Another account from the same address is not affected.
    let other = b.call("sign_in", &[("email", &email("other")), ("password", PASSWORD)]).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_up_is_rate_limited_per_email_and_ip() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let address = email("signup-rl");
    // Every attempt spends a token, whether it succeeds or not.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(b.call("sign_up", &[("email", &address), ("password", PASSWORD)]).await.status);
    }
    assert_eq!(statuses[0], StatusCode::OK);
    assert!(statuses[1..5].iter().all(|s| *s == StatusCode::CONFLICT), "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    // A different email from the same address still signs up.
    let other = Browser::new(&server).call("sign_up", &[("email", &email("fresh")), ("password", PASSWORD)]).await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test]
async fn rate_limits_can_be_disabled_for_development() {
    let server = start_with(|s| s.disable_rate_limit = Some(true)).await;
    let mut b = Browser::new(&server);
    for _ in 0..8 {
        let a = b.call("sign_in", &[("email", "x@example.com"), ("password", "wrong password!")]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn sign_out_other_sessions_keeps_only_this_one() {
    let server = start().await;
    let address = email("multi");
    let mut laptop = Browser::new(&server);
    laptop.sign_up(&address).await;
    let mut phone = Browser::new(&server);
    let signed = phone.call("sign_in", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, StatusCode::OK);

    let page = laptop.call("get_security_page", &[]).await.json();
    assert_eq!(page["sessions"].as_array().unwrap().len(), 2);

    let done = laptop.call("sign_out_other_sessions", &[]).await;
    assert_eq!(done.json(), serde_json::json!(1));
    assert_eq!(phone.call("get_security_page", &[]).await.status, StatusCode::UNAUTHORIZED);
    let page = laptop.call("get_security_page", &[]).await.json();
    assert_eq!(page["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(audit_count(&server, "account.sign_out_other_sessions").await, 1);
}

#[tokio::test]
async fn cookie_mutations_from_another_origin_are_refused() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up(&email("csrf")).await;
    b.origin = "http://evil.example".into();
    let a = b.call("create_org", &[("name", "Evil"), ("slug", "evil-org")]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"]["code"], "FORBIDDEN");
    b.origin = b.base.clone();
    assert_eq!(
        b.call("get_org_context", &[("org", "evil-org")]).await.status,
        StatusCode::NOT_FOUND,
        "nothing was created"
    );
}

/// Login CSRF: another site may not sign a visitor in, or up, with an
/// account of its choosing; a browser without cookies is checked too.
#[tokio::test]
async fn signing_in_or_up_from_another_origin_is_refused() {
    let server = start_with(|s| s.disable_rate_limit = Some(true)).await;
    let address = email("login-csrf");
    let mut owner = Browser::new(&server);
    owner.sign_up_without_factor(&address).await;

    let mut visitor = Browser::new(&server);
    visitor.origin = "https://evil.example".into();
    let signed_in = visitor.call("sign_in", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(signed_in.status, StatusCode::FORBIDDEN, "{}", signed_in.body);
    let signed_up = visitor.call("sign_up", &[("email", &email("planted")), ("password", PASSWORD)]).await;
    assert_eq!(signed_up.status, StatusCode::FORBIDDEN, "{}", signed_up.body);
    visitor.origin = visitor.base.clone();
    assert_eq!(visitor.call("whoami", &[]).await.json(), serde_json::Value::Null, "still signed out");
    let same_site = visitor.call("sign_in", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(same_site.status, StatusCode::OK, "from our own origin it works: {}", same_site.body);
}

#[tokio::test]
async fn forms_work_without_javascript() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let a = b.submit("sign_up", "/signup", &[("email", &email("nojs")), ("password", PASSWORD), ("next", "")]).await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(a.location().as_deref(), Some("/new"));

    let bad = b.submit("create_org", "/new", &[("name", "Acme"), ("slug", "api")]).await;
    assert_eq!(bad.status, StatusCode::FOUND);
    let back = bad.location().unwrap();
    assert!(back.contains("/new?") && back.contains("__err="), "error travels back to the form: {back}");
    let shown = b.page(&back.replacen(&server.base, "", 1)).await;
    assert!(shown.body.contains("is reserved"), "the form shows the error");

    let slug = slug("nojs");
    let ok = b.submit("create_org", "/new", &[("name", "Acme"), ("slug", &slug)]).await;
    assert_eq!(ok.location(), Some(format!("/{slug}")));
    let home = b.page(&format!("/{slug}")).await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.h1(), "Overview");
}

#[tokio::test]
async fn health_and_readiness() {
    let server = start().await;
    let mut b = Browser::new(&server);
    assert_eq!(b.get("/healthz").await.status, StatusCode::OK);
    let ready = b.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, "ready");
}

#[tokio::test]
async fn unknown_routes_answer_404_in_their_own_format() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let api = b.get("/api/v1/does-not-exist").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.json(),
        serde_json::json!({"success": false, "error": {"code": "NOT_FOUND", "message": "No such API route"}})
    );
    let page = b.page("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(page.h1(), "Page not found");
}

#[tokio::test]
async fn assets_are_served_gzipped_to_browsers_that_ask() {
    let server = start().await;
    std::fs::create_dir_all(server.pkg_dir()).unwrap();
    std::fs::write(server.pkg_dir().join("alumia.css"), ".a{color:red}\n".repeat(2000)).unwrap();
    let http = reqwest::Client::new();
    let res =
        http.get(format!("{}/pkg/alumia.css", server.base)).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let plain = http.get(format!("{}/pkg/alumia.css", server.base)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.unwrap().len(), 14 * 2000);
}
