//! The baseline of `scripts/bench-api.sh`: a bare axum handler answering a
//! static JSON body. Built for the comparison only; not part of the product.

use axum::routing::get;
use axum::{Json, Router};

#[tokio::main]
async fn main() {
    let addr = std::env::var("BARE_ADDR").unwrap_or_else(|_| "127.0.0.1:3900".to_string());
    let body = serde_json::json!({
        "success": true,
        "data": { "items": [{ "id": "8f14e45f-ceea-4e7a-9b6a-2d7b3c1f0a11", "name": "Static" }], "nextCursor": null, "hasMore": false }
    });
    let app = Router::new().route(
        "/api/v1/projects",
        get(move || {
            let body = body.clone();
            async move { Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
