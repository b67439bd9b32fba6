//! `alumia admin …` run as the real binary against a test server's database.

use std::process::{Command, Output};

use reqwest::StatusCode;

use crate::support::*;

fn alumia(server: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alumia"))
        .args(args)
        .env("DATABASE_URL", &server.database_url)
        .env("ALUMIA_DATA_DIR", std::env::temp_dir())
        .env_remove("ALUMIA_CONFIG")
        .env_remove("ALUMIA_ENV")
        .output()
        .expect("run alumia")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn operators_create_users_orgs_and_keys_from_the_cli() {
    let server = start().await;
    let org = slug("cli");
    let owner = email("cli-owner");
    let out = alumia(&server, &["admin", "create-user", "--email", &owner, "--password", PASSWORD, "--org", &org]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut b = Browser::new(&server);
    let signed = b.call("sign_in", &[("email", &owner), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, StatusCode::OK);
    assert_eq!(b.call("get_org_context", &[("org", &org)]).await.json()["org"]["role"], "owner");

    let admin = email("cli-admin");
    let out = alumia(
        &server,
        &["admin", "create-user", "--email", &admin, "--password", PASSWORD, "--org", &org, "--role", "admin"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let roles = b.call("get_members_page", &[("org", &org)]).await.json();
    assert_eq!(roles["members"][1]["role"], "admin");

    let out =
        alumia(&server, &["admin", "mint-key", "--org", &org, "--email", &admin, "--scopes", "models:read,terminal"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key = stdout.trim_end_matches('\n');
    assert!(
        !key.contains('\n') && key.starts_with("alm_test_") && key.len() == 57,
        "the key alone on stdout: {stdout:?}"
    );
    let api = Api::new(&server, Some(key));
    let keys = data(&api.get("/api-keys").await)["items"].clone();
    assert_eq!(keys[0]["scopes"], serde_json::json!(["models:read", "terminal"]));
    let id = keys[0]["id"].as_str().unwrap().to_string();

    let out = alumia(&server, &["admin", "revoke-key", "--id", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The server caches an authenticated key for a few seconds; a
    // revocation made by another process takes effect when that passes.
    server.ctx.clock.advance(chrono::Duration::seconds(app::domain::cache::TTL_SECONDS));
    assert_eq!(api.get("/projects").await.status, StatusCode::UNAUTHORIZED);
    let again = alumia(&server, &["admin", "revoke-key", "--id", &id]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already revoked"));
}

#[tokio::test]
async fn the_cli_validates_like_the_web() {
    let server = start().await;
    let bad_email = alumia(&server, &["admin", "create-user", "--email", "nope", "--password", PASSWORD]);
    assert!(!bad_email.status.success());
    assert!(text(&bad_email.stderr).contains("valid email"), "{}", text(&bad_email.stderr));
    let short = alumia(&server, &["admin", "create-user", "--email", &email("x"), "--password", "short"]);
    assert!(text(&short.stderr).contains("at least 10"));
    let reserved =
        alumia(&server, &["admin", "create-user", "--email", &email("y"), "--password", PASSWORD, "--org", "api"]);
    assert!(!reserved.status.success());
    assert!(text(&reserved.stderr).contains("reserved"));
    let stranger = alumia(&server, &["admin", "mint-key", "--org", "no-such-org", "--email", "nobody@example.com"]);
    assert!(!stranger.status.success());
    let help = alumia(&server, &["--help"]);
    let help = text(&help.stdout);
    for setting in
        ["ALUMIA_ADDR", "ALUMIA_PUBLIC_URL", "ALUMIA_DATA_DIR", "DATABASE_URL", "ALUMIA_ENV", "DISABLE_RATE_LIMIT"]
    {
        assert!(help.contains(setting), "--help documents {setting}");
    }
}

#[tokio::test]
async fn operators_grant_credits_and_verify_the_ledger() {
    let server = start().await;
    let (_, org, key) = owner_with_key(&server, &[]).await;
    let out = alumia(&server, &["admin", "grant-credits", "--org", &org, "--credits", "2.5", "--reason", "trial"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bad = alumia(&server, &["admin", "grant-credits", "--org", &org, "--credits=-1", "--reason", "oops"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("positive number of credits"), "{}", text(&bad.stderr));
    let api = Api::new(&server, Some(&key));
    let billing = data(&api.get("/billing").await);
    assert_eq!(billing["balance"]["credits"], "2.5");
    let entry = &data(&api.get("/billing/ledger").await)["items"][0];
    assert_eq!((entry["kind"].as_str(), entry["reason"].as_str()), (Some("adjustment"), Some("trial")));
    assert_eq!(billing["balance"]["creditMicrounits"], 2_500_000);

    // Operators put an org on a package; its grant follows.
    let unknown = alumia(&server, &["admin", "set-package", "--org", &org, "--package", "gold"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("No package \"gold\""), "{}", text(&unknown.stderr));
    let moved = alumia(&server, &["admin", "set-package", "--org", &org, "--package", "pro"]);
    assert!(moved.status.success(), "{}", text(&moved.stderr));
    let billing = data(&api.get("/billing").await);
    assert_eq!(billing["package"]["id"], "pro");
    assert_eq!(billing["balance"]["credits"], "2002.5", "Pro's 2,000-credit grant and the 2.5 granted before");
    assert_eq!(audit_count(&server, "billing.package_set").await, 1);

    let ok = alumia(&server, &["admin", "verify-ledger"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    // A balance changed behind the ledger's back is found.
    app::exec_on_db!(&server.ctx.db, |p| sqlx::query("UPDATE credit_buckets SET balance = balance + 1")
        .execute(p)
        .await)
    .unwrap();
    let broken = alumia(&server, &["admin", "verify-ledger"]);
    assert!(!broken.status.success());
    assert!(text(&broken.stderr).contains("the ledger sums to 2500000"), "{}", text(&broken.stderr));
    assert!(text(&broken.stderr).contains("2 bucket(s) differ"), "{}", text(&broken.stderr));
}

/// Page data is kept in memory on SQLite until a table it was read from
/// changes; an operator's CLI, another process, marks the database when
/// it is done, so a grant shows on the very next page.
#[tokio::test]
async fn a_grant_from_the_cli_shows_on_the_next_page_at_once() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up(&email("cli-grant")).await;
    let org = slug("cli-grant");
    b.create_org(&org).await;
    let balance = |page: &Answer| page.json()["summary"]["balance"]["credits"].as_str().unwrap().to_string();
    let credits_card = |body: &str| -> String {
        let card = body.split(r#"data-testid="overview-credits""#).nth(1).expect("the credits card");
        card[card.find('>').unwrap() + 1..].split('<').next().unwrap().trim().to_string()
    };
    let before = balance(&b.call("get_billing_page", &[("org", &org)]).await);
    let card_before = credits_card(&b.page(&format!("/{org}")).await.body);

    let out = alumia(&server, &["admin", "grant-credits", "--org", &org, "--credits", "12.5", "--reason", "cli trial"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = b.call("get_billing_page", &[("org", &org)]).await;
    assert_ne!(balance(&page), before, "the grant shows at once: {}", page.body);
    assert_eq!(page.json()["recent"][0]["reason"], "cli trial", "{}", page.body);
    let card = credits_card(&b.page(&format!("/{org}")).await.body);
    assert_ne!(card, card_before, "and on the overview");
}
