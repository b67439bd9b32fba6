use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn creating_an_org_makes_the_creator_owner() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up(&email("own")).await;
    let slug = slug("acme");
    b.create_org(&slug).await;
    let ctx = b.call("get_org_context", &[("org", &slug)]).await.json();
    assert_eq!(ctx["org"]["slug"], slug.as_str());
    assert_eq!(ctx["org"]["role"], "owner");
    assert_eq!(audit_count(&server, "org.create").await, 1);
    let page = b.page(&format!("/{slug}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"aria-label="Organization""#));
    for section in
        ["agents", "projects", "schedules", "skills", "connectors", "notifications", "billing", "developers", "members"]
    {
        let p = b.page(&format!("/{slug}/{section}")).await;
        assert_eq!(p.status, StatusCode::OK, "{section}");
        assert_eq!(p.h1().to_lowercase(), section, "{section} has its own heading");
    }
}

#[tokio::test]
async fn slug_rules_are_enforced() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up(&email("slugs")).await;
    for (bad, why) in [
        ("api", "reserved"),
        ("settings", "reserved"),
        ("login", "reserved"),
        ("ab", "3 to 40"),
        ("Acme", "lowercase"),
        ("a_b_c", "lowercase"),
        ("-abc", "dash"),
    ] {
        let a = b.call("create_org", &[("name", "Acme"), ("slug", bad)]).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(a.json()["details"]["field"], "slug");
        assert!(a.json()["message"].as_str().unwrap().contains(why), "{bad}: {}", a.body);
    }
    let long = "a".repeat(41);
    assert_eq!(
        b.call("create_org", &[("name", "Acme"), ("slug", &long)]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let taken = slug("taken");
    b.create_org(&taken).await;
    let mut other = Browser::new(&server);
    other.sign_up(&email("other")).await;
    let dup = other.call("create_org", &[("name", "Mine"), ("slug", &taken)]).await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.json()["message"].as_str().unwrap().contains("taken"));

    // An empty slug is derived from the name.
    let name = format!("Derived Name {}", &slug("x")[2..]);
    let made = b.call("create_org", &[("name", &name), ("slug", "")]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let derived = name.to_lowercase().replace(' ', "-");
    assert_eq!(b.call("get_org_context", &[("org", &derived)]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn another_orgs_pages_look_exactly_like_missing_ones() {
    let server = start().await;
    let mut alice = Browser::new(&server);
    alice.sign_up(&email("alice")).await;
    let secret = slug("secret");
    alice.create_org(&secret).await;

    let mut bob = Browser::new(&server);
    bob.sign_up(&email("bob")).await;
    let theirs = bob.page(&format!("/{secret}")).await;
    let missing = bob.page("/no-such-org-here").await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.h1(), "Page not found");
    assert_eq!(theirs.h1(), missing.h1());
    assert_eq!(bob.page(&format!("/{secret}/members")).await.status, StatusCode::NOT_FOUND);
    for call in ["get_org_context", "get_org_overview", "get_members_page"] {
        let a = bob.call(call, &[("org", &secret)]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{call}");
    }
    let invite = bob.call("create_invite", &[("org", &secret), ("role", "owner")]).await;
    assert_eq!(invite.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reserved_words_in_the_place_of_an_org_are_404_for_everyone() {
    let server = start().await;
    let mut member = Browser::new(&server);
    member.sign_up(&email("member")).await;
    member.create_org(&slug("mine")).await;
    for path in ["/metrics", "/admin", "/login/members"] {
        assert_eq!(Browser::new(&server).page(path).await.status, StatusCode::NOT_FOUND, "{path}, signed out");
        assert_eq!(member.page(path).await.status, StatusCode::NOT_FOUND, "{path}, signed in");
    }
}

#[tokio::test]
async fn a_user_can_belong_to_several_orgs_and_switch() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up(&email("many")).await;
    let (one, two) = (slug("one"), slug("two"));
    b.create_org(&one).await;
    b.create_org(&two).await;
    let ctx = b.call("get_org_context", &[("org", &two)]).await.json();
    let slugs: Vec<&str> = ctx["orgs"].as_array().unwrap().iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert!(slugs.contains(&one.as_str()) && slugs.contains(&two.as_str()));
    let page = b.page(&format!("/{one}")).await;
    assert!(page.body.contains(&format!(r#"href="/{two}""#)), "the switcher links to the other org");
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let server = start().await;
    let mut b = Browser::new(&server);
    let home = b.page("/").await;
    assert_eq!(home.status, StatusCode::FOUND);
    assert!(home.location().unwrap().ends_with("/login"));
    let org = b.page("/some-org").await;
    assert_eq!(org.status, StatusCode::FOUND);
    assert_eq!(org.location().as_deref(), Some("/login?next=/some-org"), "sign-in returns to the page");
    assert_eq!(b.call("create_org", &[("name", "X"), ("slug", "xyz-org")]).await.status, StatusCode::UNAUTHORIZED);
}
