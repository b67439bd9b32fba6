//! Request extractors whose every failure answers in the envelope: bodies
//! over the cap (413), malformed JSON or wrong types (400, naming the
//! field), bad query strings (400).

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::Json;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::HeaderMap;
use http::StatusCode;
use serde::de::DeserializeOwned;

use app::model::{AppError, ErrorCode};

use super::envelope::ApiError;

/// The default body cap of `/api/v1` (SPEC §6).
pub const BODY_LIMIT: usize = 128 * 1024;

/// Agents' bodies: a system prompt may be 32,000 characters, which JSON
/// escapes can make 12 bytes each (SPEC §6: larger only where a route
/// says so).
pub const AGENT_BODY_LIMIT: usize = 512 * 1024;

/// A JSON object body of at most `LIMIT` bytes (413 beyond).
pub struct ApiJson<T, const LIMIT: usize = BODY_LIMIT>(pub T);

impl<T: DeserializeOwned, S: Send + Sync, const LIMIT: usize> FromRequest<S> for ApiJson<T, LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError(AppError::bad_request("Send the body as JSON with Content-Type: application/json")));
        }
        // Read with this route's cap (`DefaultBodyLimit` is the default one).
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), LIMIT).await.map_err(|e| {
            // http-body-util's `LengthLimitError`: "length limit exceeded".
            let too_big = e.to_string().contains("length limit");
            ApiError(if too_big {
                too_large(LIMIT)
            } else {
                AppError::bad_request(format!("Failed to read the body: {e}"))
            })
        })?;
        // Every body of this API is an object; serde would also take a
        // struct from an array (`[null, null]`), which the document forbids.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError(AppError::bad_request("The body must be a JSON object")));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError(json_error(rejection))),
        }
    }
}

/// `application/json` or `application/<anything>+json`, as axum's `Json`.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn too_large(limit: usize) -> AppError {
    AppError::new(ErrorCode::PayloadTooLarge, format!("The request body is over {} KB", limit / 1024))
}

fn json_error(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(BODY_LIMIT);
    }
    // axum names the field and what was expected, e.g.
    // "name: invalid type: integer `5`, expected a string".
    AppError::bad_request(rejection.body_text())
}

pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError(AppError::bad_request(query_message(rejection)))),
        }
    }
}

fn query_message(rejection: QueryRejection) -> String {
    rejection.body_text()
}

/// `?limit=&cursor=` of every list route (SPEC §6).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// How many items a page holds.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page, as it was given; empty or
    /// absent for the first page. (The pattern is `paging::CURSOR_PATTERN`.)
    #[param(max_length = 51, pattern = "^$|^[0-9]{1,18}-[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

impl ListParams {
    pub fn page(&self) -> Result<app::domain::paging::PageRequest, ApiError> {
        Ok(app::domain::paging::PageRequest::parse(self.limit, self.cursor.as_deref())?)
    }
}

/// Ids in paths: anything that is not a UUID names nothing, so 404.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError(AppError::not_found()))
}
