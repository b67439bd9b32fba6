//! `ALUMIA_TRUSTED_PROXIES`: forwarded addresses count only from the
//! proxies it names. Shown where the client address ends up: the
//! sessions table, audit rows, and the sign-in rate limit's buckets.

use reqwest::StatusCode;

use crate::support::*;

/// Signs in as `email` with `password` through `/fn/sign_in`, with extra headers.
async fn sign_in(server: &TestServer, email: &str, password: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut req = reqwest::Client::new()
        .post(format!("{}/fn/sign_in", server.base))
        .header("origin", &server.public_url)
        .header("accept", "application/json")
        .form(&[("email", email), ("password", password)]);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status()
}

async fn last_session_ip(server: &TestServer) -> String {
    app::on_db!(&server.ctx.db, |p| sqlx::query_scalar::<_, Option<String>>(
        "SELECT ip FROM user_sessions ORDER BY created_at DESC LIMIT 1"
    )
    .fetch_one(p)
    .await)
    .unwrap()
    .expect("the session has an ip")
}

async fn audit_ips(server: &TestServer, action: &str) -> Vec<String> {
    app::on_db!(&server.ctx.db, |p| sqlx::query_scalar::<_, Option<String>>(
        "SELECT ip FROM audit_log WHERE action = $1 ORDER BY created_at"
    )
    .bind(action)
    .fetch_all(p)
    .await)
    .unwrap()
    .into_iter()
    .flatten()
    .collect()
}

/// Six wrong passwords for one email, each claiming another address.
async fn six_wrong_passwords(server: &TestServer, email: &str) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for i in 0..6 {
        let claimed = format!("198.51.100.{}", 10 + i);
        statuses.push(sign_in(server, email, "wrong password", &[("x-forwarded-for", &claimed)]).await);
    }
    statuses
}

#[tokio::test]
async fn forwarded_addresses_are_ignored_from_untrusted_peers() {
    let server = start().await;
    let who = email("direct");
    Browser::new(&server).sign_up(&who).await;
    let status =
        sign_in(&server, &who, PASSWORD, &[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.8")])
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last_session_ip(&server).await, "127.0.0.1", "the peer, not what the client claimed");
    assert!(audit_ips(&server, "account.sign_in").await.iter().all(|ip| ip == "127.0.0.1"));

    // Claiming a new address per attempt does not buy a new rate-limit bucket.
    let statuses = six_wrong_passwords(&server, &email("spoofer")).await;
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test]
async fn forwarded_addresses_name_the_client_behind_a_trusted_proxy() {
    let server = start_with(|s| s.trusted_proxies = Some("127.0.0.1/32, 10.0.0.0/8".into())).await;
    let who = email("proxied");
    Browser::new(&server).sign_up(&who).await;

    // The proxy (127.0.0.1, the test client) appended the client's address;
    // the client's own claim to its left is not believed.
    let status = sign_in(&server, &who, PASSWORD, &[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.5")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last_session_ip(&server).await, "203.0.113.9");
    let status = sign_in(&server, &who, PASSWORD, &[("forwarded", r#"for="[2001:db8::17]:4711";proto=https"#)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last_session_ip(&server).await, "2001:db8::17");
    let audited = audit_ips(&server, "account.sign_in").await;
    assert!(
        audited.contains(&"203.0.113.9".to_string()) && audited.contains(&"2001:db8::17".to_string()),
        "{audited:?}"
    );

    // Six clients behind the proxy are six rate-limit buckets.
    let statuses = six_wrong_passwords(&server, &email("crowd")).await;
    assert!(statuses.iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}
