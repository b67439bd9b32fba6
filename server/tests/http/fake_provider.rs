//! A stand-in model provider on loopback: a real HTTP server speaking both
//! wire formats the product calls — OpenAI-compatible
//! `POST /v1/chat/completions` and Anthropic's `POST /v1/messages` — in
//! real SSE, the way those APIs stream (role chunk, content deltas,
//! finish reason, a `choices: []` usage chunk and `[DONE]`; or
//! `message_start`, content blocks, `message_delta`, `message_stop`).
//!
//! A test scripts the answers in order with [`FakeProvider::push`]: each
//! request takes the next [`Scripted`], whichever path it came on, so a
//! tool call followed by a text reply answers a model call and its
//! follow-up. Every request is recorded (headers and JSON body) for the
//! test to check what was sent. With nothing scripted the fake answers
//! 500 "nothing scripted", which a test notices.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};

/// A tool call the model makes, its arguments sent in these pieces.
#[derive(Clone, Debug)]
pub struct FakeToolCall {
    pub id: String,
    pub name: String,
    pub pieces: Vec<String>,
}

impl FakeToolCall {
    pub fn new(id: &str, name: &str, pieces: &[&str]) -> FakeToolCall {
        FakeToolCall { id: id.into(), name: name.into(), pieces: pieces.iter().map(|p| p.to_string()).collect() }
    }

    /// The arguments once assembled.
    pub fn arguments(&self) -> String {
        self.pieces.concat()
    }
}

/// One answer, in the wire format of the path it is asked on.
#[derive(Clone, Debug)]
pub enum Scripted {
    /// A text reply streamed in these chunks, then the usage; finishes as
    /// `stop` / `end_turn`.
    Text { chunks: Vec<String>, input_tokens: u64, output_tokens: u64 },
    /// Tool calls (OpenAI: their argument pieces interleaved by index, as
    /// parallel calls arrive; Anthropic: one `tool_use` block each);
    /// finishes as `tool_calls` / `tool_use`.
    ToolCalls { calls: Vec<FakeToolCall>, input_tokens: u64, output_tokens: u64 },
    /// An HTTP error with the provider's JSON error body.
    Error { status: u16, retry_after: Option<String>, message: String },
    /// Text chunks, then the provider's in-stream error (Anthropic's
    /// `error` event with `overloaded_error`, an OpenAI chunk with an
    /// `error` object) and the end of the body.
    FailMidway { chunks: Vec<String>, message: String },
    /// Text chunks every `every`, never finishing: the stream ends only
    /// when the client goes away (see [`FakeProvider::wait_for_disconnect`]).
    Slow { chunk: String, every: Duration },
}

impl Scripted {
    /// A text reply in these chunks, with usage 10 in and one token per
    /// chunk out (change it with [`Scripted::usage`]).
    pub fn text(chunks: &[&str]) -> Scripted {
        Scripted::Text {
            chunks: chunks.iter().map(|c| c.to_string()).collect(),
            input_tokens: 10,
            output_tokens: chunks.len() as u64,
        }
    }

    pub fn tool_call(id: &str, name: &str, pieces: &[&str]) -> Scripted {
        Scripted::tool_calls(vec![FakeToolCall::new(id, name, pieces)])
    }

    pub fn tool_calls(calls: Vec<FakeToolCall>) -> Scripted {
        Scripted::ToolCalls { calls, input_tokens: 10, output_tokens: 20 }
    }

    pub fn error(status: u16, message: &str) -> Scripted {
        Scripted::Error { status, retry_after: None, message: message.into() }
    }

    pub fn fail_midway(chunks: &[&str], message: &str) -> Scripted {
        Scripted::FailMidway { chunks: chunks.iter().map(|c| c.to_string()).collect(), message: message.into() }
    }

    pub fn slow(chunk: &str, every: Duration) -> Scripted {
        Scripted::Slow { chunk: chunk.into(), every }
    }

    /// The usage a text or tool-call reply reports.
    pub fn usage(mut self, input: u64, output: u64) -> Scripted {
        if let Scripted::Text { input_tokens, output_tokens, .. }
        | Scripted::ToolCalls { input_tokens, output_tokens, .. } = &mut self
        {
            (*input_tokens, *output_tokens) = (input, output);
        }
        self
    }

    /// `Retry-After` on an error answer.
    pub fn retry_after(mut self, value: &str) -> Scripted {
        if let Scripted::Error { retry_after, .. } = &mut self {
            *retry_after = Some(value.into());
        }
        self
    }
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `/v1/chat/completions` or `/v1/messages`.
    pub path: String,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
}

#[derive(Default)]
struct Books {
    script: Mutex<VecDeque<Scripted>>,
    /// Answers for one model only, taken before the shared script: runs
    /// of agents on different models going on at once each get theirs.
    by_model: Mutex<HashMap<String, VecDeque<Scripted>>>,
    requests: Mutex<Vec<Recorded>>,
    /// Slow streams whose client went away.
    closed: AtomicUsize,
}

#[derive(Clone)]
pub struct FakeProvider {
    addr: std::net::SocketAddr,
    books: Arc<Books>,
}

impl FakeProvider {
    pub async fn start() -> FakeProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeProvider { addr: listener.local_addr().unwrap(), books: Default::default() };
        let app = Router::new()
            .route("/v1/chat/completions", post(|s, h, b| answer(s, h, b, Wire::OpenAi)))
            .route("/v1/messages", post(|s, h, b| answer(s, h, b, Wire::Anthropic)))
            .route("/v1/models", axum::routing::get(models))
            .with_state(fake.books.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// `http://127.0.0.1:port/v1`: a provider's `base_url` for either kind.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The answer to a coming request, after those already scripted.
    pub fn push(&self, scripted: Scripted) {
        self.books.script.lock().unwrap().push_back(scripted);
    }

    /// The answer to a coming request for `model`, after those already
    /// scripted for it.
    pub fn push_for(&self, model: &str, scripted: Scripted) {
        self.books.by_model.lock().unwrap().entry(model.to_string()).or_default().push_back(scripted);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.books.requests.lock().unwrap().clone()
    }

    /// How many slow streams have seen their client go away.
    pub fn disconnects(&self) -> usize {
        self.books.closed.load(Ordering::SeqCst)
    }

    /// Whether a slow stream's client goes away within `within`.
    pub async fn wait_for_disconnect(&self, within: Duration) -> bool {
        let before = tokio::time::Instant::now();
        while before.elapsed() < within {
            if self.disconnects() > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.disconnects() > 0
    }
}

/// The key [`models`] refuses, as a provider refuses a revoked key.
pub const REFUSED_KEY: &str = "sk-refused-0000";
/// What `GET /v1/models` lists.
pub const LISTED_MODELS: &[&str] = &["own-large", "own-small"];

/// `GET /v1/models`, in the shape OpenAI and Anthropic share
/// (`{data: [{id, …}]}`), recorded like the chat requests; 401 for
/// [`REFUSED_KEY`] on either header.
async fn models(State(books): State<Arc<Books>>, headers: HeaderMap) -> Response {
    let recorded: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let refused = recorded.get("authorization").is_some_and(|v| v.ends_with(REFUSED_KEY))
        || recorded.get("x-api-key").is_some_and(|v| v == REFUSED_KEY);
    books.requests.lock().unwrap().push(Recorded { path: "/v1/models".into(), headers: recorded, body: Value::Null });
    if refused {
        return error_answer(Wire::OpenAi, 401, None, "Incorrect API key provided");
    }
    let data: Vec<Value> =
        LISTED_MODELS.iter().map(|id| json!({ "id": id, "object": "model", "owned_by": "fake" })).collect();
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(json!({ "object": "list", "data": data }).to_string()))
        .unwrap()
}

async fn answer(State(books): State<Arc<Books>>, headers: HeaderMap, body: String, wire: Wire) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let model = body["model"].as_str().unwrap_or("fake-model").to_string();
    let path = match wire {
        Wire::OpenAi => "/v1/chat/completions",
        Wire::Anthropic => "/v1/messages",
    };
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    books.requests.lock().unwrap().push(Recorded { path: path.into(), headers, body });
    let for_model = books.by_model.lock().unwrap().get_mut(&model).and_then(VecDeque::pop_front);
    let next = for_model.or_else(|| books.script.lock().unwrap().pop_front());
    match next {
        None => error_answer(wire, 500, None, "nothing scripted"),
        Some(Scripted::Error { status, retry_after, message }) => {
            error_answer(wire, status, retry_after.as_deref(), &message)
        }
        Some(Scripted::Slow { chunk, every }) => sse(slow(wire, &model, chunk, every, books.clone()).boxed()),
        Some(Scripted::FailMidway { chunks, message }) => {
            sse(futures::stream::iter(midway(wire, &model, &chunks, &message)).boxed())
        }
        Some(finite) => {
            let events = match wire {
                Wire::OpenAi => openai_events(&model, &finite),
                Wire::Anthropic => anthropic_events(&model, &finite),
            };
            sse(futures::stream::iter(events).boxed())
        }
    }
}

fn sse(events: futures::stream::BoxStream<'static, String>) -> Response {
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(events.map(Ok::<_, Infallible>)))
        .unwrap()
}

fn data(value: Value) -> String {
    format!("data: {value}\n\n")
}

fn event(value: Value) -> String {
    format!("event: {}\ndata: {value}\n\n", value["type"].as_str().unwrap())
}

fn openai_chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    data(json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
        "system_fingerprint": null,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    }))
}

fn openai_events(model: &str, scripted: &Scripted) -> Vec<String> {
    let mut out = vec![openai_chunk(model, json!({ "role": "assistant", "content": "" }), None)];
    let (finish, input, output) = match scripted {
        Scripted::Text { chunks, input_tokens, output_tokens } => {
            out.extend(chunks.iter().map(|c| openai_chunk(model, json!({ "content": c }), None)));
            ("stop", input_tokens, output_tokens)
        }
        Scripted::ToolCalls { calls, input_tokens, output_tokens } => {
            for (i, call) in calls.iter().enumerate() {
                let first = json!({ "index": i, "id": call.id, "type": "function",
                                    "function": { "name": call.name, "arguments": "" } });
                out.push(openai_chunk(model, json!({ "tool_calls": [first] }), None));
            }
            // Argument pieces round-robin across the calls.
            let rounds = calls.iter().map(|c| c.pieces.len()).max().unwrap_or(0);
            for round in 0..rounds {
                for (i, call) in calls.iter().enumerate() {
                    if let Some(piece) = call.pieces.get(round) {
                        let fragment = json!({ "index": i, "function": { "arguments": piece } });
                        out.push(openai_chunk(model, json!({ "tool_calls": [fragment] }), None));
                    }
                }
            }
            ("tool_calls", input_tokens, output_tokens)
        }
        _ => unreachable!("answered elsewhere"),
    };
    out.push(openai_chunk(model, json!({}), Some(finish)));
    out.push(data(json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
        "choices": [],
        "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output },
    })));
    out.push("data: [DONE]\n\n".into());
    out
}

fn anthropic_start(model: &str, input_tokens: u64) -> String {
    event(json!({ "type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": { "input_tokens": input_tokens, "output_tokens": 1 },
    }}))
}

fn text_delta(index: usize, text: &str) -> String {
    event(json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } }))
}

fn anthropic_events(model: &str, scripted: &Scripted) -> Vec<String> {
    let (stop, input, output) = match scripted {
        Scripted::Text { input_tokens, output_tokens, .. } => ("end_turn", *input_tokens, *output_tokens),
        Scripted::ToolCalls { input_tokens, output_tokens, .. } => ("tool_use", *input_tokens, *output_tokens),
        _ => unreachable!("answered elsewhere"),
    };
    let mut out = vec![anthropic_start(model, input)];
    match scripted {
        Scripted::Text { chunks, .. } => {
            out.push(event(json!({ "type": "content_block_start", "index": 0,
                                   "content_block": { "type": "text", "text": "" } })));
            out.push(event(json!({ "type": "ping" })));
            out.extend(chunks.iter().map(|c| text_delta(0, c)));
            out.push(event(json!({ "type": "content_block_stop", "index": 0 })));
        }
        Scripted::ToolCalls { calls, .. } => {
            for (i, call) in calls.iter().enumerate() {
                out.push(event(json!({ "type": "content_block_start", "index": i, "content_block": {
                    "type": "tool_use", "id": call.id, "name": call.name, "input": {} } })));
                for piece in &call.pieces {
                    out.push(event(json!({ "type": "content_block_delta", "index": i,
                        "delta": { "type": "input_json_delta", "partial_json": piece } })));
                }
                out.push(event(json!({ "type": "content_block_stop", "index": i })));
            }
        }
        _ => unreachable!(),
    }
    out.push(event(json!({ "type": "message_delta", "delta": { "stop_reason": stop, "stop_sequence": null },
                           "usage": { "output_tokens": output } })));
    out.push(event(json!({ "type": "message_stop" })));
    out
}

fn midway(wire: Wire, model: &str, chunks: &[String], message: &str) -> Vec<String> {
    match wire {
        Wire::OpenAi => {
            let mut out: Vec<String> =
                chunks.iter().map(|c| openai_chunk(model, json!({ "content": c }), None)).collect();
            out.push(data(json!({ "error": { "message": message, "type": "server_error", "code": null } })));
            out
        }
        Wire::Anthropic => {
            let mut out = vec![
                anthropic_start(model, 10),
                event(
                    json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
                ),
            ];
            out.extend(chunks.iter().map(|c| text_delta(0, c)));
            out.push(event(json!({ "type": "error", "error": { "type": "overloaded_error", "message": message } })));
            out
        }
    }
}

/// The error type each provider names for a status.
fn error_kind(wire: Wire, status: u16) -> &'static str {
    match (wire, status) {
        (Wire::OpenAi, 429) => "rate_limit_exceeded",
        (Wire::OpenAi, 500..) => "server_error",
        (Wire::OpenAi, _) => "invalid_request_error",
        (Wire::Anthropic, 401) => "authentication_error",
        (Wire::Anthropic, 403) => "permission_error",
        (Wire::Anthropic, 404) => "not_found_error",
        (Wire::Anthropic, 429) => "rate_limit_error",
        (Wire::Anthropic, 529) => "overloaded_error",
        (Wire::Anthropic, 500..) => "api_error",
        (Wire::Anthropic, _) => "invalid_request_error",
    }
}

fn error_answer(wire: Wire, status: u16, retry_after: Option<&str>, message: &str) -> Response {
    let kind = error_kind(wire, status);
    let body = match wire {
        Wire::OpenAi => json!({ "error": { "message": message, "type": kind, "param": null, "code": null } }),
        Wire::Anthropic => json!({ "type": "error", "error": { "type": kind, "message": message } }),
    };
    let mut answer = Response::builder().status(status).header("content-type", "application/json");
    if let Some(retry_after) = retry_after {
        answer = answer.header("retry-after", retry_after);
    }
    answer.body(Body::from(body.to_string())).unwrap()
}

/// Counts the stream as closed when hyper drops it (the client left).
struct OnClose(Arc<Books>);

impl Drop for OnClose {
    fn drop(&mut self) {
        self.0.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn slow(
    wire: Wire,
    model: &str,
    chunk: String,
    every: Duration,
    books: Arc<Books>,
) -> impl futures::Stream<Item = String> + Send + 'static {
    let opening = match wire {
        Wire::OpenAi => vec![openai_chunk(model, json!({ "role": "assistant", "content": "" }), None)],
        Wire::Anthropic => vec![
            anthropic_start(model, 10),
            event(
                json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            ),
        ],
    };
    let model = model.to_string();
    let ticks = futures::stream::unfold((OnClose(books), model), move |state| {
        let chunk = chunk.clone();
        async move {
            tokio::time::sleep(every).await;
            let text = match wire {
                Wire::OpenAi => openai_chunk(&state.1, json!({ "content": chunk }), None),
                Wire::Anthropic => text_delta(0, &chunk),
            };
            Some((text, state))
        }
    });
    futures::stream::iter(opening).chain(ticks)
}
