//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers'
//! annotations (`utoipa`), served at `/api/v1/openapi.json` and shown by
//! the viewer at `/api/docs`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use app::model::ErrorCode;

/// Every success: `{"success": true, "data": …}`.
#[derive(ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
}

/// Every failure: `{"success": false, "error": {…}}`, with the status the
/// code maps to (BAD_REQUEST 400, UNAUTHORIZED 401, PAYMENT_REQUIRED 402,
/// FORBIDDEN 403, NOT_FOUND 404, CONFLICT 409, LENGTH_REQUIRED 411,
/// PAYLOAD_TOO_LARGE 413, VALIDATION_ERROR 422, TOO_MANY_REQUESTS 429
/// with `Retry-After`, INTERNAL_ERROR 500, SERVICE_UNAVAILABLE 503).
#[derive(ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// Machine-readable hints: `field` for input errors,
    /// `retryAfterSeconds` for 429.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("alm_(live|test)_<48 hex>")
                    .description(Some(
                        "An API key from the dashboard's Developers page. The org and user come from the key.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "alumia_session",
                "A signed-in browser on the same host; name the org with ?org=<slug> when you have several. \
                 Browser-only routes accept only this, and only within 10 minutes of a passkey or \
                 TOTP step-up; otherwise they answer 403 with `error.details.stepUp = \"required\"`.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Alumia API",
        description = "Automate your organization's resources. Answers use the envelope \
            `{\"success\":true,\"data\":…}` / `{\"success\":false,\"error\":{\"code\",\"message\"}}`. \
            Lists are cursor-paged: `limit` (default 20, max 100) and `cursor` (the `nextCursor` of the \
            previous page). Ids are UUID v4; times ISO 8601 UTC with `Z`. Bodies are capped at 128 KB."
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode)),
    tags((name = "dashboard"), (name = "api-keys"), (name = "projects"), (name = "workspaces"), (name = "members"), (name = "meta"))
)]
pub struct ApiDoc;

/// The viewer page: Scalar's script from our own `/pkg` (the product is
/// self-hosted; no CDN), with a plain link to the document underneath.
pub const VIEWER_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8"/>
  <meta name="viewport" content="width=device-width, initial-scale=1"/>
  <title>Alumia API reference</title>
</head>
<body>
  <noscript><p>The API reference needs JavaScript. The raw document is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></noscript>
  <script id="api-reference" type="application/json">
    $spec
  </script>
  <script src="/pkg/scalar.js"></script>
</body>
</html>"#;
