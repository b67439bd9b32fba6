//! The security headers of every answer, set in one layer so a route
//! added later cannot forget them: a Content-Security-Policy (strict by
//! default, with a per-answer nonce for the scripts Leptos inlines),
//! `nosniff`, a referrer policy, a permissions policy, no framing, HSTS
//! when production runs on https, and `no-store` on anything that varies
//! by who asks.
//!
//! Which policy an answer gets depends on what it is: a dashboard page,
//! the API viewer, an `/api/v1` or other non-HTML answer, or a static
//! asset. A handler that sets its own `Content-Security-Policy` or
//! `Cache-Control` keeps it (the share pages to come will).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{
    HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use leptos::nonce::Nonce;
use sha2::{Digest, Sha256};

use crate::config::Config;

/// What the browser may never use on any page of ours. WebAuthn
/// (`publickey-credentials-*`) keeps its default (this origin only).
const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
     geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), \
     screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";

/// Directives every HTML policy ends with: no plugins, no `<base>`
/// rewriting, forms post only here, and no site may frame us
/// (clickjacking of the step-up dialog or key minting).
const LOCKDOWN: &str = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Answers that are not HTML (JSON, the OpenAPI document, an SVG opened
/// on its own) load nothing and run nothing.
const NOT_HTML_POLICY: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Where Stripe.js runs from, when payments are on: the billing page's
/// policy names these origins and no other page's does.
#[derive(Clone, Debug)]
pub struct StripeOrigins {
    /// Origin of Stripe.js (`https://js.stripe.com`): script and frames.
    pub js: String,
    /// Origin of Stripe's API, which Stripe.js calls.
    pub api: String,
}

#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    /// `http` or `https`, from `ALUMIA_PUBLIC_URL`: the scheme the
    /// browser sees, also behind a TLS-terminating proxy.
    scheme: &'static str,
    /// Origin of `ALUMIA_PUBLIC_URL`, used when a request's `Host` is
    /// unusable.
    public_origin: String,
    hsts: bool,
    stripe: Option<StripeOrigins>,
    /// `'sha256-…'` of the API viewer's one inline script.
    viewer_setup_hash: String,
}

/// What an answer is, by its path; decides its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A dashboard page or server function: Leptos renders it.
    Page { billing: bool },
    /// `/api/docs`: Scalar's viewer.
    ApiViewer,
    /// `/api/v1/…`: JSON for clients, never cached.
    Api,
    /// `/pkg/…`, `/favicon.svg`: the same for everyone.
    Asset,
}

impl Kind {
    fn of(path: &str) -> Kind {
        if path == "/api/docs" {
            Kind::ApiViewer
        } else if path == "/api/v1" || path.starts_with("/api/") {
            Kind::Api
        } else if path.starts_with("/pkg/") || path == "/favicon.svg" {
            Kind::Asset
        } else {
            // `/<org>/billing`: one segment, then `billing`.
            let billing = path
                .strip_prefix('/')
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(org, page)| !org.is_empty() && page.trim_end_matches('/') == "billing");
            Kind::Page { billing }
        }
    }
}

impl SecurityHeaders {
    pub fn new(config: &Config) -> SecurityHeaders {
        let https = config.public_url.starts_with("https://");
        let stripe = config.billing.stripe.as_ref().map(|s| StripeOrigins {
            js: origin_of(&s.js_url).unwrap_or_else(|| "https://js.stripe.com".to_string()),
            api: s.api_base.as_deref().and_then(origin_of).unwrap_or_else(|| "https://api.stripe.com".to_string()),
        });
        SecurityHeaders {
            scheme: if https { "https" } else { "http" },
            public_origin: origin_of(&config.public_url).unwrap_or_else(|| config.public_url.clone()),
            // Browsers ignore HSTS over plain http; in development a
            // remembered HSTS would break every other localhost app.
            hsts: https && config.production(),
            stripe,
            viewer_setup_hash: format!(
                "'sha256-{}'",
                BASE64.encode(Sha256::digest(crate::openapi::VIEWER_SETUP_SCRIPT.as_bytes()))
            ),
        }
    }

    /// Our origins, for source expressions that name a path
    /// (`<origin>/pkg/`), which `'self'` cannot: the public URL's, and the
    /// one this request was made to when it differs. Both, because either
    /// may be what the browser sees: a proxy that rewrites `Host` leaves
    /// the public one; `127.0.0.1` beside a `localhost` public URL, the
    /// request's. A `Host` with anything but host characters is ignored.
    fn our_origins(&self, req: &Request<Body>) -> String {
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)));
        match host.map(|host| format!("{}://{host}", self.scheme)) {
            Some(origin) if origin != self.public_origin => format!("{} {origin}", self.public_origin),
            _ => self.public_origin.clone(),
        }
    }

    /// A dashboard page: scripts only from `/pkg` or inline with this
    /// answer's nonce (Leptos's hydration and resource scripts), wasm
    /// compiled from `/pkg`, styles only from our stylesheet, no inline
    /// style attributes. On the billing page with payments on, Stripe.js
    /// and its frames and API as well.
    fn page_policy(&self, origins: &str, nonce: &str, billing: bool) -> String {
        let pkg = path_sources(origins, "/pkg/");
        let stripe = self.stripe.as_ref().filter(|_| billing);
        let (script, frame, connect) = match stripe {
            Some(s) => {
                // Stripe's own list: Stripe.js may also load from its
                // subdomains, and 3-D Secure frames come from hooks.
                let js = if s.js == "https://js.stripe.com" {
                    "https://js.stripe.com https://*.js.stripe.com".to_string()
                } else {
                    s.js.clone()
                };
                (format!(" {js}"), format!("{js} https://hooks.stripe.com"), format!(" {}", s.api))
            }
            None => (String::new(), "'none'".to_string(), String::new()),
        };
        // The lab's canvas frames its HTML blocks from `/frames/` (each an
        // opaque origin by its own policy). Every page allows it: the app
        // routes in the browser, so the policy of the page first loaded is
        // the one the lab runs under.
        let frames = path_sources(origins, "/frames/");
        let frame = if frame == "'none'" { frames } else { format!("{frame} {frames}") };
        format!(
            "default-src 'self'; script-src 'nonce-{nonce}' 'wasm-unsafe-eval' {pkg}{script}; \
             style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'{connect}; \
             frame-src {frame}; worker-src 'none'; manifest-src 'self'; {LOCKDOWN}"
        )
    }

    /// Scalar's viewer: its script from `/pkg` and our setup script by its
    /// hash; it injects its own styles, so inline styles are allowed on
    /// this page (and no other). No eval.
    fn api_viewer_policy(&self, origins: &str) -> String {
        let setup = &self.viewer_setup_hash;
        let scalar = path_sources(origins, "/pkg/scalar.js");
        format!(
            "default-src 'self'; script-src {scalar} {setup}; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-src 'none'; \
             worker-src 'self' blob:; {LOCKDOWN}"
        )
    }
}

/// `path` under each of the space-separated `origins`.
fn path_sources(origins: &str, path: &str) -> String {
    origins.split(' ').map(|o| format!("{o}{path}")).collect::<Vec<_>>().join(" ")
}

/// `scheme://host[:port]` of a URL, if it has one.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

fn set_if_absent(response: &mut Response, name: HeaderName, value: &str) {
    if !response.headers().contains_key(&name) {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The layer. A page request gets a fresh nonce in its extensions, which
/// the render hands to Leptos (`router::leptos_context`) and the policy
/// names.
pub async fn apply(State(headers): State<Arc<SecurityHeaders>>, mut req: Request<Body>, next: Next) -> Response {
    let kind = Kind::of(req.uri().path());
    let origins = headers.our_origins(&req);
    let nonce = matches!(kind, Kind::Page { .. }).then(Nonce::new);
    if let Some(nonce) = &nonce {
        req.extensions_mut().insert(nonce.clone());
    }
    let mut response = next.run(req).await;

    let policy = match (kind, is_html(&response)) {
        (Kind::Page { billing }, true) => headers.page_policy(&origins, nonce.as_deref().unwrap_or_default(), billing),
        (Kind::ApiViewer, true) => headers.api_viewer_policy(&origins),
        _ => NOT_HTML_POLICY.to_string(),
    };
    set_if_absent(&mut response, CONTENT_SECURITY_POLICY, &policy);
    // Pages carry a nonce that must never be reused, and signed-in pages
    // and API answers hold an org's data: none may be kept by a browser
    // or a shared cache. Assets are the same for everyone.
    if kind != Kind::Asset {
        set_if_absent(&mut response, CACHE_CONTROL, "no-store");
    }
    response.headers_mut().insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A handler may frame itself for our own pages (an HTML block's
    // frame) or send no referrer at all (a share page): theirs stays.
    set_if_absent(&mut response, X_FRAME_OPTIONS, "DENY");
    set_if_absent(&mut response, REFERRER_POLICY, "strict-origin-when-cross-origin");
    let out = response.headers_mut();
    out.insert(HeaderName::from_static("permissions-policy"), HeaderValue::from_static(permissions(kind, &headers)));
    out.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if headers.hsts {
        out.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// The billing page with payments on may use the Payment Request API
/// (wallets in Stripe's Payment Element); everything else denies it.
fn permissions(kind: Kind, headers: &SecurityHeaders) -> &'static str {
    const BILLING: &str = "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
         geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), \
         payment=(self \"https://js.stripe.com\"), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()";
    match kind {
        Kind::Page { billing: true } if headers.stripe.is_some() => BILLING,
        _ => PERMISSIONS_POLICY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_their_kind() {
        assert_eq!(Kind::of("/acme/billing"), Kind::Page { billing: true });
        assert_eq!(Kind::of("/acme/billing/"), Kind::Page { billing: true });
        assert_eq!(Kind::of("/acme"), Kind::Page { billing: false });
        assert_eq!(Kind::of("/billing"), Kind::Page { billing: false });
        assert_eq!(Kind::of("/acme/agents"), Kind::Page { billing: false });
        assert_eq!(Kind::of("/login"), Kind::Page { billing: false });
        assert_eq!(Kind::of("/api/docs"), Kind::ApiViewer);
        assert_eq!(Kind::of("/api/v1/projects"), Kind::Api);
        assert_eq!(Kind::of("/api/v1"), Kind::Api);
        assert_eq!(Kind::of("/pkg/alumia.js"), Kind::Asset);
    }

    #[test]
    fn scripts_may_come_from_the_public_origin_and_the_requested_one() {
        let headers = SecurityHeaders {
            scheme: "https",
            public_origin: "https://alumia.example".into(),
            hsts: true,
            stripe: None,
            viewer_setup_hash: String::new(),
        };
        let with_host = |host: &str| {
            let req = Request::builder().header(HOST, host).body(Body::empty()).unwrap();
            headers.our_origins(&req)
        };
        assert_eq!(with_host("alumia.example"), "https://alumia.example");
        // A proxy that passes its upstream's address as Host.
        assert_eq!(with_host("127.0.0.1:3000"), "https://alumia.example https://127.0.0.1:3000");
        assert_eq!(with_host("evil; script-src *"), "https://alumia.example", "not a host: ignored");
        assert_eq!(
            path_sources(&with_host("10.0.0.2:3000"), "/pkg/"),
            "https://alumia.example/pkg/ https://10.0.0.2:3000/pkg/"
        );
    }

    #[test]
    fn origins_drop_paths() {
        assert_eq!(origin_of("https://js.stripe.com/v3/").as_deref(), Some("https://js.stripe.com"));
        assert_eq!(origin_of("http://127.0.0.1:9000").as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(origin_of("nonsense"), None);
    }
}
