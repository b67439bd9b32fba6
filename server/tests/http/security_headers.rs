//! Every answer carries the security headers (`server/src/security_headers.rs`):
//! a strict CSP whose nonce is on every script Leptos inlines, no
//! framing, `nosniff`, a referrer and a permissions policy, `no-store`
//! on pages and API answers, HSTS only in production on https.

use reqwest::StatusCode;

use crate::fake_stripe::FakeStripe;
use crate::support::*;

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} header ({})", a.status))
}

fn csp(a: &Answer) -> &str {
    header(a, "content-security-policy")
}

/// The nonce a page's policy names.
fn nonce_of(a: &Answer) -> String {
    let policy = csp(a);
    let start = policy.find("'nonce-").expect("the page policy has a nonce") + "'nonce-".len();
    policy[start..].split('\'').next().unwrap().to_string()
}

/// The opening tags of `<name …>` elements in an HTML answer.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    html.match_indices(&open)
        .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap() + 1])
        .filter(|tag| tag[open.len()..].starts_with([' ', '>']))
        .collect()
}

fn assert_common_headers(a: &Answer, what: &str) {
    assert_eq!(header(a, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(a, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(a, "referrer-policy"), "strict-origin-when-cross-origin", "{what}");
    assert!(header(a, "permissions-policy").contains("camera=()"), "{what}");
    assert!(csp(a).contains("frame-ancestors 'none'"), "{what}: {}", csp(a));
    assert!(csp(a).contains("base-uri 'none'"), "{what}: {}", csp(a));
    assert!(a.headers.get("strict-transport-security").is_none(), "{what}: no HSTS in development on http");
}

/// A page's inline scripts all carry the policy's nonce; nothing else is
/// inline; scripts with `src` come from /pkg.
fn assert_page_runs_under_its_policy(a: &Answer, what: &str) {
    let policy = csp(a);
    let nonce = nonce_of(a);
    assert!(nonce.len() >= 22, "{what}: a nonce of at least 128 bits: {nonce}");
    assert!(policy.contains("default-src 'self'"), "{what}: {policy}");
    assert!(policy.contains("object-src 'none'") && policy.contains("form-action 'self'"), "{what}: {policy}");
    assert!(policy.contains("'wasm-unsafe-eval'"), "{what}: {policy}");
    assert!(!policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"), "{what}: {policy}");
    assert!(!policy.contains("stripe"), "{what}: Stripe is named only on the billing page: {policy}");
    let scripts = tags(&a.body, "script");
    assert!(!scripts.is_empty(), "{what}: the page hydrates");
    for tag in scripts {
        if tag.contains(" src=") {
            assert!(tag.contains("src=\"/pkg/"), "{what}: a script from outside /pkg: {tag}");
        } else {
            assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{what}: an inline script without the nonce: {tag}");
        }
    }
    assert!(!a.body.contains(" style="), "{what}: an inline style attribute, which the policy refuses");
    assert_eq!(header(a, "cache-control"), "no-store", "{what}");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = start().await;
    let (mut b, org, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));

    let mut signed_out = Browser::new(&server);
    let login = signed_out.page("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_common_headers(&login, "/login");
    assert_page_runs_under_its_policy(&login, "/login");

    for path in [format!("/{org}"), format!("/{org}/billing"), format!("/{org}/members"), format!("/{org}/developers")]
    {
        let page = b.page(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_common_headers(&page, &path);
        assert_page_runs_under_its_policy(&page, &path);
    }
    // A fresh nonce per answer.
    assert_ne!(nonce_of(&b.page(&format!("/{org}")).await), nonce_of(&b.page(&format!("/{org}")).await));

    let not_found = b.page("/no-such-org-here").await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_common_headers(&not_found, "a 404 page");

    for answer in [
        api.get("/projects").await,
        api.get("/no-such-route").await,
        Api::new(&server, None).get("/projects").await,
        api.get("/openapi.json").await,
    ] {
        assert_common_headers(&answer, "an /api/v1 answer");
        assert_eq!(header(&answer, "cache-control"), "no-store");
        assert!(csp(&answer).starts_with("default-src 'none'"), "JSON loads nothing: {}", csp(&answer));
    }

    // Refused by the CSRF guard before any handler: still the headers.
    let refused = reqwest::Client::new()
        .post(format!("{}/fn/sign_in", server.base))
        .header("origin", "https://evil.example")
        .form(&[("email", "a@example.test"), ("password", "x")])
        .send()
        .await
        .unwrap();
    let refused = Answer { status: refused.status(), headers: refused.headers().clone(), body: String::new() };
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_common_headers(&refused, "a refused answer");

    let viewer = b.get("/api/docs").await;
    assert_eq!(viewer.status, StatusCode::OK);
    assert_common_headers(&viewer, "/api/docs");
    assert!(csp(&viewer).contains("/pkg/scalar.js"), "{}", csp(&viewer));
    assert!(csp(&viewer).contains("style-src 'self' 'unsafe-inline'"), "{}", csp(&viewer));
    assert!(csp(&viewer).contains("'sha256-"), "the setup script by its hash: {}", csp(&viewer));
    assert!(!csp(&viewer).contains("unsafe-eval"), "{}", csp(&viewer));
    // The hash is of the inline script the page really has.
    let inline = viewer.body.split("<script>").nth(1).and_then(|rest| rest.split("</script>").next()).unwrap();
    let hash = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline.as_bytes()))
    };
    assert!(csp(&viewer).contains(&format!("'sha256-{hash}'")), "{}", csp(&viewer));

    let glue = b.get("/pkg/webauthn.js").await;
    assert_eq!(glue.status, StatusCode::OK, "the passkey glue is served from /pkg");
    assert_eq!(header(&glue, "x-content-type-options"), "nosniff");
    assert!(glue.headers.get("cache-control").is_none(), "assets may be cached");
    let health = b.get("/healthz").await;
    assert_common_headers(&health, "/healthz");
}

#[tokio::test]
async fn only_the_billing_page_names_stripe_and_only_when_payments_are_on() {
    let fake = FakeStripe::start().await;
    let server = start_with(|s| fake.configure(s)).await;
    let (mut b, org, _) = owner_with_key(&server, &[]).await;
    // Stripe.js from its default origin; the API at the stand-in.
    let api_origin = fake.base.trim_end_matches('/').to_string();

    let billing = b.page(&format!("/{org}/billing")).await;
    assert_eq!(billing.status, StatusCode::OK);
    let policy = csp(&billing);
    let directive = |name: &str| policy.split(';').map(str::trim).find(|d| d.starts_with(name)).unwrap().to_string();
    assert!(directive("script-src").contains("https://js.stripe.com"), "{policy}");
    assert!(directive("frame-src").contains("https://js.stripe.com"), "{policy}");
    assert!(directive("connect-src").contains(&api_origin), "{policy}");
    assert!(header(&billing, "permissions-policy").contains("payment=(self"), "wallets may run on billing");

    let overview = b.page(&format!("/{org}")).await;
    assert!(!csp(&overview).contains(&api_origin), "{}", csp(&overview));
    assert!(header(&overview, "permissions-policy").contains("payment=()"));
    assert_page_runs_under_its_policy(&overview, "the overview with payments on");
}

#[tokio::test]
async fn hsts_is_sent_in_production_on_an_https_public_url() {
    let server = start_with(|s| {
        s.environment = Some("production".into());
        s.public_url = Some("https://alumia.example".into());
    })
    .await;
    let mut b = Browser::new(&server);
    let login = b.page("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(header(&login, "strict-transport-security"), "max-age=31536000");
    let health = b.get("/healthz").await;
    assert_eq!(header(&health, "strict-transport-security"), "max-age=31536000");
}
