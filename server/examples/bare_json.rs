//! The baseline of `scripts/bench-api.sh`: a bare axum handler answering a
//! static JSON body. Built for the comparison only; not part of the product.
//!
//! The body is read once from `BARE_BODY` (the script saves the real
//! route's answer there), so both sides put the same bytes on the wire and
//! the ratio measures the server's work, not the payload's size.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() {
    let addr = std::env::var("BARE_ADDR").unwrap_or_else(|_| "127.0.0.1:3900".to_string());
    let body = match std::env::var("BARE_BODY") {
        Ok(path) => Bytes::from(std::fs::read(&path).expect("read BARE_BODY")),
        Err(_) => Bytes::from_static(br#"{"success":true,"data":{"items":[],"nextCursor":null,"hasMore":false}}"#),
    };
    let app = Router::new().route(
        "/api/v1/projects",
        get(move || {
            let body = body.clone();
            async move { ([(CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
