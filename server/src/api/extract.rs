//! Request extractors whose every failure answers in the envelope: bodies
//! over the cap (413), malformed JSON or wrong types (400, naming the
//! field), bad query strings (400).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::Json;
use http::request::Parts;
use http::StatusCode;
use serde::de::DeserializeOwned;

use app::model::{AppError, ErrorCode};

use super::envelope::ApiError;

/// The default body cap of `/api/v1` (SPEC §6).
pub const BODY_LIMIT: usize = 128 * 1024;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError(json_error(rejection))),
        }
    }
}

fn json_error(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::new(ErrorCode::PayloadTooLarge, format!("The request body is over {} KB", BODY_LIMIT / 1024));
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AppError::bad_request("Send the body as JSON with Content-Type: application/json")
        }
        // axum names the field and what was expected, e.g.
        // "name: invalid type: integer `5`, expected a string".
        other => AppError::bad_request(other.body_text()),
    }
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

/// Ids in paths: anything that is not a UUID names nothing, so 404.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError(AppError::not_found()))
}
