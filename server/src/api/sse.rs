//! Server-sent event answers: the headers every stream needs and the
//! keep-alive comment, shared by the sessions' and notifications' streams.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderName, HeaderValue};

/// SPEC §10: a comment line every 15 s keeps proxies from closing a quiet
/// stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The comment a quiet stream sends.
pub const KEEP_ALIVE_FRAME: &[u8] = b":\n\n";

/// `frames` as a `text/event-stream` answer.
pub fn response<S>(frames: S) -> Response
where
    S: Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Proxies such as nginx would otherwise hold the stream back.
            (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}
