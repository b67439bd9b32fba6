//! Passkeys, TOTP, recovery codes and the step-up gate over real HTTP.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret};
use url::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::RequestChallengeResponse;

use crate::support::*;

fn step_up_required(a: &Answer) -> bool {
    a.status == StatusCode::FORBIDDEN && a.json()["details"]["stepUp"] == "required"
}

/// A signed-up owner of a new org, with a passkey (so stepped up now).
async fn owner_with_passkey(server: &TestServer) -> (Browser, String) {
    let mut b = Browser::new(server);
    b.sign_up(&email("pk")).await;
    let org = slug("pk");
    b.create_org(&org).await;
    (b, org)
}

/// Moves the server's clock to 2 s into a 30-second TOTP step, so a test
/// that expects "the same step" cannot straddle two.
fn align_to_step(server: &TestServer) {
    let into = server.ctx.clock.now().timestamp().rem_euclid(30);
    server.ctx.clock.advance(Duration::seconds((32 - into) % 30));
}

/// What an authenticator app shows at `unix` for the base32 `secret`.
fn code_at(secret: &str, unix: i64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .with_account_name("t@example.com")
        .build()
        .unwrap();
    totp.generate(unix as u64).to_string()
}

#[tokio::test]
async fn the_first_passkey_needs_the_password_and_steps_the_session_up() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up_without_factor(&email("first")).await;
    let org = slug("first");
    b.create_org(&org).await;
    let mint = b.call("mint_api_key", &[("org", &org), ("name", "k")]).await;
    assert!(step_up_required(&mint), "no factor, no step-up: {}", mint.body);
    let methods = b.call("get_step_up_methods", &[]).await.json();
    assert_eq!((methods["passkey"].as_bool(), methods["totp"].as_bool()), (Some(false), Some(false)), "{methods}");

    let without = b.call("start_passkey_registration", &[]).await;
    assert_eq!(without.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(without.json()["details"]["field"], "password");
    let wrong = b.register_passkey("Laptop", Some("not my password")).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = b.register_passkey("Laptop", Some(PASSWORD)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["name"], "Laptop");

    let page = b.call("get_security_page", &[]).await.json();
    assert_eq!(page["passkeys"][0]["name"], "Laptop");
    assert!(page["stepUp"]["steppedUpUntil"].is_string(), "{page}");
    let mint = b.call("mint_api_key", &[("org", &org), ("name", "k")]).await;
    assert_eq!(mint.status, StatusCode::OK, "stepped up by the enrolment: {}", mint.body);
    assert_eq!(audit_count(&server, "passkey.add").await, 1);
    assert_eq!(audit_count(&server, "step_up.success").await, 1);
}

#[tokio::test]
async fn a_step_up_lasts_ten_minutes_and_a_passkey_renews_it() {
    let server = start().await;
    let (mut b, org) = owner_with_passkey(&server).await;
    server.ctx.clock.advance(Duration::seconds(599));
    assert_eq!(b.call("mint_api_key", &[("org", &org), ("name", "a")]).await.status, StatusCode::OK);
    server.ctx.clock.advance(Duration::seconds(2));
    let stale = b.call("mint_api_key", &[("org", &org), ("name", "b")]).await;
    assert!(step_up_required(&stale), "{}", stale.body);

    let cookie_before = b.cookie.clone();
    let stepped = b.step_up().await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    assert_ne!(b.cookie, cookie_before, "a step-up rotates the session id");
    assert_eq!(b.call("mint_api_key", &[("org", &org), ("name", "b")]).await.status, StatusCode::OK);
    // Gated actions are audited with how the caller was authenticated
    // and when the session was stepped up.
    let rows: Vec<(String, Option<String>)> = app::on_db!(&server.ctx.db, |p| sqlx::query_as(
        "SELECT auth_method, CAST(stepped_up_at AS TEXT) FROM audit_log WHERE action = 'api_key.mint'"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(method, at)| method == "browser" && at.is_some()), "{rows:?}");

    // A second passkey needs the step-up, not the password.
    let mut phone = b.clone();
    phone.passkey = std::sync::Arc::new(std::sync::Mutex::new(SoftPasskey::new(true)));
    assert_eq!(phone.register_passkey("Phone", None).await.status, StatusCode::OK);
    server.ctx.clock.advance(Duration::seconds(601));
    let third = b.call("start_passkey_registration", &[("password", PASSWORD)]).await;
    assert!(step_up_required(&third), "a password is not a step-up: {}", third.body);
}

#[tokio::test]
async fn a_wrong_passkey_does_not_step_up() {
    let server = start().await;
    let (mut b, _org) = owner_with_passkey(&server).await;
    server.ctx.clock.advance(Duration::seconds(601));
    let start = b.call("start_passkey_step_up", &[]).await;
    let options: RequestChallengeResponse = serde_json::from_str(start.json().as_str().unwrap()).unwrap();
    let origin = Url::parse(&server.public_url).unwrap();
    // Another authenticator holds none of the allowed credentials.
    assert!(SoftPasskey::new(true).do_authentication(origin, options).is_err());
    let forged = b.call("finish_passkey_step_up", &[("credential", "{\"id\":\"x\"}")]).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(step_up_required(&b.call("sign_out_other_sessions", &[]).await));
}

#[tokio::test]
async fn totp_enrolment_sign_in_skew_and_single_use() {
    // Attempts are limited (tested below); this test makes more than five.
    let server = start_with(|s| s.disable_rate_limit = Some(true)).await;
    let mut b = Browser::new(&server);
    let user = email("totp");
    b.sign_up_without_factor(&user).await;
    let started = b.call("start_totp_enrolment", &[("password", PASSWORD)]).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let enrol = started.json();
    let secret = enrol["secret"].as_str().unwrap().to_string();
    assert!(enrol["otpauthUri"].as_str().unwrap().starts_with("otpauth://totp/Alumia:"));
    assert!(enrol["qrSvg"].as_str().unwrap().contains("<svg"));

    align_to_step(&server);
    let now = || server.ctx.clock.now().timestamp();
    let wrong = b.call("confirm_totp_enrolment", &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let confirmed = b.call("confirm_totp_enrolment", &[("code", &code_at(&secret, now()))]).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes: Vec<String> = serde_json::from_value(confirmed.json()["codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);

    // Sign in again: the password alone is not enough any more.
    let mut c = Browser::new(&server);
    let first = c.call("sign_in", &[("email", &user), ("password", PASSWORD)]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(c.call("get_security_page", &[]).await.status, StatusCode::UNAUTHORIZED, "not signed in yet");
    // The code used to enrol was used up.
    let replay = c.call("verify_sign_in", &[("code", &code_at(&secret, now()))]).await;
    assert_eq!(replay.status, StatusCode::UNPROCESSABLE_ENTITY, "a code works once: {}", replay.body);
    // One step late is still accepted; two are not.
    server.ctx.clock.advance(Duration::seconds(60));
    let too_old = c.call("verify_sign_in", &[("code", &code_at(&secret, now() - 60))]).await;
    assert_eq!(too_old.status, StatusCode::UNPROCESSABLE_ENTITY);
    let late = c.call("verify_sign_in", &[("code", &code_at(&secret, now() - 30))]).await;
    assert_eq!(late.status, StatusCode::OK, "{}", late.body);
    assert_eq!(c.call("get_security_page", &[]).await.status, StatusCode::OK);
    assert_eq!(audit_count(&server, "account.sign_in").await, 1);

    // A recovery code signs in once.
    let mut d = Browser::new(&server);
    assert_eq!(d.call("sign_in", &[("email", &user), ("password", PASSWORD)]).await.status, StatusCode::OK);
    assert_eq!(d.call("verify_sign_in", &[("code", &codes[0].to_uppercase())]).await.status, StatusCode::OK);
    let mut e = Browser::new(&server);
    assert_eq!(e.call("sign_in", &[("email", &user), ("password", PASSWORD)]).await.status, StatusCode::OK);
    assert_eq!(e.call("verify_sign_in", &[("code", &codes[0])]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn code_attempts_are_rate_limited() {
    let server = start().await;
    let mut b = Browser::new(&server);
    b.sign_up_without_factor(&email("limit")).await;
    let enrol = b.call("start_totp_enrolment", &[("password", PASSWORD)]).await.json();
    let secret = enrol["secret"].as_str().unwrap().to_string();
    let code = code_at(&secret, server.ctx.clock.now().timestamp());
    assert_eq!(b.call("confirm_totp_enrolment", &[("code", &code)]).await.status, StatusCode::OK);
    server.ctx.clock.advance(Duration::seconds(601));
    // Five checks a minute per user and address, enrolment included.
    let mut refused = 0;
    let mut limited = None;
    for _ in 0..6 {
        let a = b.call("step_up_with_code", &[("code", "123456")]).await;
        match a.status {
            StatusCode::UNPROCESSABLE_ENTITY => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some(a);
                break;
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    let limited = limited.expect("the sixth check is refused");
    assert!(limited.headers.get("retry-after").is_some());
    assert_eq!(refused, 3, "password and first code took two of the five");
    assert_eq!(audit_count(&server, "step_up.failure").await, 3);
    let right = code_at(&secret, server.ctx.clock.now().timestamp());
    assert_eq!(
        b.call("step_up_with_code", &[("code", &right)]).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even a right code waits"
    );
}

/// Every server function and `/api/v1` mutation that is not listed as
/// open answers a stale session with the step-up hint, and an API key
/// with "requires a browser session".
#[tokio::test]
async fn every_gated_route_needs_a_fresh_step_up() {
    let server = start().await;
    let (mut b, org) = owner_with_passkey(&server).await;
    let key = b.call("mint_api_key", &[("org", &org), ("name", "walker")]).await.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    server.ctx.clock.advance(Duration::seconds(601));

    let registered: Vec<String> = server_fn::axum::server_fn_paths().map(|(path, _)| path.to_string()).collect();
    let names: Vec<&str> = registered.iter().filter_map(|p| p.strip_prefix("/fn/")).collect();
    for open in server::step_up::OPEN_SERVER_FNS {
        assert!(names.contains(open), "{open} is listed as open but no such server function exists");
    }
    let gated: Vec<&str> = names.iter().copied().filter(|n| !server::step_up::OPEN_SERVER_FNS.contains(n)).collect();
    for expected in [
        "mint_api_key",
        "revoke_api_key",
        "create_workspace",
        "delete_workspace",
        "create_invite",
        "revoke_invite",
        "change_member_role",
        "remove_member",
        "sign_out_other_sessions",
        "change_password",
        "rename_passkey",
        "delete_passkey",
        "disable_totp",
        "regenerate_recovery_codes",
        "revoke_share_link",
    ] {
        assert!(gated.contains(&expected), "{expected} must be gated");
    }
    for name in &gated {
        let a = b.call(name, &[]).await;
        assert!(step_up_required(&a), "/fn/{name} answered {} {}", a.status, a.body);
        let anonymous = Browser::new(&server).call(name, &[]).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "/fn/{name} without a session");
    }
    let no_js = b.submit("mint_api_key", &format!("/{org}/developers"), &[("org", &org), ("name", "x")]).await;
    assert_eq!(no_js.status, StatusCode::FOUND);
    assert_eq!(no_js.location().unwrap(), format!("/step-up?next=/{org}/developers"));

    let api = Api::new(&server, Some(&key));
    let doc = api.get("/openapi.json").await.json();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "patch", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let route = path.clone();
            let open = server::step_up::OPEN_API_MUTATIONS.contains(&(method.to_uppercase().as_str(), route.as_str()));
            if open {
                continue;
            }
            let concrete = route
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{userId}", &uuid::Uuid::new_v4().to_string());
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let with_key = api.send(m.clone(), concrete.strip_prefix("/api/v1").unwrap(), Some(json!({}))).await;
            assert_eq!(with_key.status, StatusCode::FORBIDDEN, "{method} {route} with a key");
            assert!(with_key.body.contains("requires a browser session"), "{method} {route}: {}", with_key.body);
            let stale = b.api(m, &format!("{concrete}?org="), json!({})).await;
            assert_eq!(stale.status, StatusCode::FORBIDDEN, "{method} {route} stale: {}", stale.body);
            assert_eq!(stale.json()["error"]["details"]["stepUp"], "required", "{method} {route}");
            walked += 1;
        }
    }
    assert!(walked >= 6, "walked {walked} gated API routes");
}

#[tokio::test]
async fn factors_are_renamed_removed_and_regenerated_with_a_fresh_step_up() {
    let server = start_with(|s| s.disable_rate_limit = Some(true)).await;
    let (mut b, _org) = owner_with_passkey(&server).await;
    let page = b.call("get_security_page", &[]).await.json();
    let passkey_id = page["passkeys"][0]["id"].as_str().unwrap().to_string();
    let renamed = b.call("rename_passkey", &[("passkey_id", &passkey_id), ("name", "Old laptop")]).await;
    assert_eq!(renamed.json()["name"], "Old laptop");

    align_to_step(&server);
    let secret = b.call("start_totp_enrolment", &[]).await.json()["secret"].as_str().unwrap().to_string();
    let now = server.ctx.clock.now().timestamp();
    let first = b.call("confirm_totp_enrolment", &[("code", &code_at(&secret, now))]).await.json();
    let regenerated = b.call("regenerate_recovery_codes", &[]).await.json();
    let (old, new) = (first["codes"][0].as_str().unwrap(), regenerated["codes"][0].as_str().unwrap());
    assert_ne!(old, new);
    assert_eq!(b.call("get_security_page", &[]).await.json()["recoveryCodesLeft"], 10);

    // Old codes died with the regeneration; a new one steps up once.
    server.ctx.clock.advance(Duration::seconds(601));
    assert_eq!(b.call("step_up_with_code", &[("code", old)]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b.call("step_up_with_code", &[("code", new)]).await.status, StatusCode::OK);
    assert_eq!(b.call("get_security_page", &[]).await.json()["recoveryCodesLeft"], 9);

    assert_eq!(b.call("disable_totp", &[]).await.status, StatusCode::OK);
    assert_eq!(b.call("delete_passkey", &[("passkey_id", &passkey_id)]).await.status, StatusCode::OK);
    let page = b.call("get_security_page", &[]).await.json();
    assert_eq!(page["passkeys"], json!([]));
    assert_eq!(page["totpEnabled"], false);
    assert_eq!(page["recoveryCodesLeft"], 0, "codes go with the last factor");
    for action in ["passkey.rename", "totp.enable", "recovery_codes.regenerate", "totp.disable", "passkey.delete"] {
        assert_eq!(audit_count(&server, action).await, 1, "{action}");
    }
}
