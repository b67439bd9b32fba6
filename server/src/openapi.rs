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
/// FORBIDDEN 403, NOT_FOUND 404, METHOD_NOT_ALLOWED 405 with `Allow`,
/// REQUEST_TIMEOUT 408, CONFLICT 409, LENGTH_REQUIRED 411,
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
    tags((name = "dashboard"), (name = "agents"), (name = "api-keys"), (name = "projects"), (name = "canvas"), (name = "files"), (name = "workspaces"), (name = "members"), (name = "models"), (name = "sessions"), (name = "schedules"), (name = "notifications"), (name = "meta"))
)]
pub struct ApiDoc;

/// Runs before Scalar. Scalar bundles Zod, which probes `Function("")` to
/// decide whether to compile validators; the viewer's policy refuses
/// eval, so the probe would be reported as a violation before Zod falls
/// back. Zod reads this global config first and skips the probe.
macro_rules! viewer_setup_script {
    () => {
        "globalThis.__zod_globalConfig = Object.assign(globalThis.__zod_globalConfig || {}, { jitless: true });"
    };
}

/// The setup script's text, whose hash the viewer's policy names.
pub const VIEWER_SETUP_SCRIPT: &str = viewer_setup_script!();

/// The viewer page: Scalar's script from our own `/pkg` (the product is
/// self-hosted; no CDN), with a plain link to the document underneath.
/// Scalar's default fonts come from its CDN, which the page's policy
/// refuses: the system fonts are used instead.
pub const VIEWER_HTML: &str = concat!(
    r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8"/>
  <meta name="viewport" content="width=device-width, initial-scale=1"/>
  <title>Alumia API reference</title>
</head>
<body>
  <noscript><p>The API reference needs JavaScript. The raw document is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></noscript>
  <script id="api-reference" type="application/json" data-configuration="{&quot;withDefaultFonts&quot;: false}">
    $spec
  </script>
  <script>"#,
    // Its policy allows this script by its hash (`security_headers`).
    viewer_setup_script!(),
    r#"</script>
  <script src="/pkg/scalar.js"></script>
</body>
</html>"#
);

/// Finishes the generated document with what holds for every route, so a
/// route added later is documented by the same rules without repeating
/// them: unique operation ids, the statuses the shared layers answer
/// (401 from the auth extractor, 400/413/411 from the body extractor and
/// caps, 404 for ids, 400/422 for paging, 403 from the step-up gate), and
/// OpenAPI links from each create to the routes of what it created.
pub fn finish(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            finish_operation(path, method, op);
        }
    }
    add_links(paths);
    doc
}

const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn finish_operation(path: &str, method: &str, op: &mut serde_json::Value) {
    use serde_json::json;
    let tag = op["tags"][0].as_str().unwrap_or("api").to_string();
    let name = op["operationId"].as_str().unwrap_or(method).to_string();
    op["operationId"] = json!(format!("{tag}.{name}"));

    // `security(())` on a route (the document itself, Stripe's webhook)
    // means no caller to authenticate.
    let open = op.get("security").and_then(|s| s.as_array()).is_some_and(|s| s.iter().all(|r| r == &json!({})));
    let has_body = op.get("requestBody").is_some();
    let has_id = path.contains('{');
    let paged = op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == "limit"));
    let route = format!("/api/v1{path}");
    let gated = !matches!(method, "get" | "head" | "options")
        && !crate::step_up::OPEN_API_MUTATIONS.contains(&(method.to_uppercase().as_str(), route.as_str()));

    let responses = op["responses"].as_object_mut().expect("every operation has responses");
    let mut add = |status: &str, text: &str| {
        let entry = responses.entry(status.to_string()).or_insert_with(|| {
            json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}})
        });
        let old = entry["description"].as_str().unwrap_or_default();
        if !old.contains(text) {
            entry["description"] = json!(if old.is_empty() { text.to_string() } else { format!("{old}; {text}") });
        }
    };
    if !open {
        add("401", "Missing, malformed, unknown or revoked API key, or no signed-in session");
        add("400", "A browser session in several orgs that does not name one with ?org=<slug>");
    }
    if has_body {
        add("400", "Malformed JSON, wrong types, or not sent as application/json (the message names the field)");
        add("411", "No Content-Length (production only)");
        add("413", "Body over 128 KB, or the cap the route states");
        add("408", "The body stopped arriving for the body timeout (ALUMIA_BODY_TIMEOUT_SECS)");
    }
    if has_id {
        add("404", "Nothing with this id in the caller's org");
    }
    if paged {
        add("400", "A cursor this API did not give");
        add("422", "limit outside 1–100");
    }
    if gated {
        add(
            "403",
            "Browser only: an API key gets \"requires a browser session\"; a session without a fresh step-up \
             gets details.stepUp = \"required\"",
        );
    }
}

/// For each `POST /things` answering `data.id`, a link to every operation
/// on `/things/{id}…`, so clients (and schemathesis's stateful phase)
/// know where the new id goes.
fn add_links(paths: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let mut targets: Vec<(String, String, String, String)> = Vec::new(); // (collection, param, method, operationId)
    for (path, item) in paths.iter() {
        let Some(open) = path.find("/{") else { continue };
        let (collection, rest) = path.split_at(open);
        let Some(param) = rest[2..].split('}').next() else { continue };
        for (method, op) in item.as_object().into_iter().flatten() {
            if let Some(id) = op["operationId"].as_str() {
                targets.push((collection.to_string(), param.to_string(), method.clone(), id.to_string()));
            }
        }
    }
    for (path, item) in paths.iter_mut() {
        let Some(ok) = item.pointer_mut("/post/responses/200") else { continue };
        let links: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .filter(|(collection, ..)| collection == path)
            .map(|(_, param, _, id)| {
                (id.replace('.', "_"), json!({"operationId": id, "parameters": {param: "$response.body#/data/id"}}))
            })
            .collect();
        if !links.is_empty() {
            ok["links"] = serde_json::Value::Object(links);
        }
    }
}
