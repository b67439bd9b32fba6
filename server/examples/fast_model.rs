//! The stand-in model of `scripts/bench-chat.sh`: an OpenAI-compatible
//! server on loopback that answers at once, so a benchmark measures
//! Alumia's relay and not a model. Built for the comparison only; not part
//! of the product.
//!
//! `POST /v1/chat/completions` with `"stream": true` answers in the real
//! OpenAI wire format (a role chunk, content chunks, a `finish_reason`
//! chunk, a `choices: []` usage chunk, `data: [DONE]`). What it streams is
//! read from the model id, so one server serves every phase of the
//! benchmark without configuration:
//! - `fast-200`: 200 content chunks, written as fast as the socket takes;
//! - `slow-300x100`: 300 content chunks, one every 100 ms.
//!
//! Without `"stream": true` it answers one `chat.completion` with the
//! whole text. `GET /v1/models` lists the model ids it was last asked for
//! (any id works; the list only helps a person poking at it).
//! `GET /stats/arrivals` answers when each completion request arrived
//! (Unix microseconds, in order): `scripts/bench-schedules.sh` reads a
//! scheduled run's start as the moment its first model call got here.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

/// What a model id asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    chunks: u64,
    pause: Duration,
}

/// `<name>-<chunks>` or `<name>-<chunks>x<ms>`; anything else: 20 chunks
/// at full speed, so a stray id still gets a sensible answer.
fn shape(model: &str) -> Shape {
    let tail = model.rsplit('-').next().unwrap_or_default();
    let (count, ms) = tail.split_once('x').unwrap_or((tail, "0"));
    match (count.parse(), ms.parse()) {
        (Ok(chunks), Ok(ms)) => Shape { chunks, pause: Duration::from_millis(ms) },
        _ => Shape { chunks: 20, pause: Duration::ZERO },
    }
}

/// One SSE event: `data: <json>` and a blank line.
fn event(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> Bytes {
    event(&json!({
        "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
    }))
}

fn usage(model: &str, tokens: u64) -> Bytes {
    event(&json!({
        "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
        "usage": { "prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens },
    }))
}

/// The streamed answer. A content chunk is the same few bytes each time,
/// so it is built once and cloned (a refcount), keeping the fake's own
/// cost per token negligible next to the relay it is compared with.
fn stream_answer(model: String, shape: Shape) -> Body {
    let token = chunk(&model, json!({ "content": "tok " }), None);
    let head = stream::iter([chunk(&model, json!({ "role": "assistant", "content": "" }), None)]);
    let tail = stream::iter([
        chunk(&model, json!({}), Some("stop")),
        usage(&model, shape.chunks),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ]);
    let tokens = stream::unfold(0u64, move |sent| {
        let token = token.clone();
        async move {
            if sent == shape.chunks {
                return None;
            }
            // The first token goes out at once: time to first token is the
            // relay's, not a pause of ours.
            if sent > 0 && !shape.pause.is_zero() {
                tokio::time::sleep(shape.pause).await;
            }
            Some((token, sent + 1))
        }
    });
    let body = head.chain(tokens).chain(tail).map(Ok::<_, Infallible>);
    Body::from_stream(body)
}

fn whole_answer(model: &str, shape: Shape) -> Value {
    json!({
        "id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": "tok ".repeat(shape.chunks as usize) } }],
        "usage": { "prompt_tokens": 10, "completion_tokens": shape.chunks, "total_tokens": 10 + shape.chunks },
    })
}

/// The model ids asked for, and when each request arrived.
#[derive(Clone, Default)]
struct Seen {
    models: Arc<Mutex<BTreeSet<String>>>,
    arrivals: Arc<Mutex<Vec<i64>>>,
}

fn unix_micros() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

async fn completions(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    seen.arrivals.lock().unwrap_or_else(|p| p.into_inner()).push(unix_micros());
    let Some(model) = body["model"].as_str().map(str::to_string) else {
        let error = json!({ "error": { "message": "model is required", "type": "invalid_request_error" } });
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    };
    let shape = shape(&model);
    seen.models.lock().unwrap_or_else(|p| p.into_inner()).insert(model.clone());
    if body["stream"].as_bool() != Some(true) {
        return Json(whole_answer(&model, shape)).into_response();
    }
    let headers = [(CONTENT_TYPE, "text/event-stream"), (CACHE_CONTROL, "no-cache")];
    (headers, stream_answer(model, shape)).into_response()
}

async fn models(State(seen): State<Seen>) -> Json<Value> {
    let seen = seen.models.lock().unwrap_or_else(|p| p.into_inner());
    let data: Vec<Value> = seen.iter().map(|id| json!({ "id": id, "object": "model", "owned_by": "fake" })).collect();
    Json(json!({ "object": "list", "data": data }))
}

async fn arrivals(State(seen): State<Seen>) -> Json<Value> {
    Json(json!({ "arrivals": *seen.arrivals.lock().unwrap_or_else(|p| p.into_inner()) }))
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("FAST_ADDR").unwrap_or_else(|_| "127.0.0.1:3901".to_string());
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/stats/arrivals", get(arrivals))
        .with_state(Seen::default());
    // Without TCP_NODELAY the last small chunks of an answer wait for a
    // delayed ACK (~40 ms): the fake would look slow, not Alumia (whose
    // listener sets it too).
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind").tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.expect("serve");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_id_says_how_many_chunks_and_how_fast() {
        assert_eq!(shape("fast-200"), Shape { chunks: 200, pause: Duration::ZERO });
        assert_eq!(shape("slow-300x100"), Shape { chunks: 300, pause: Duration::from_millis(100) });
        assert_eq!(shape("gpt-4.1").chunks, 20);
    }
}
