//! Model calls, streamed (SPEC §9–10): one interface over the two wire
//! protocols a provider may speak, so the agent loop never sees which.
//!
//! The key comes only from the `Provider` passed in, never from the
//! environment: a tenant's base URL must never receive the operator's key.
//! Each wire format has a pure decoder (SSE event in, `ChatEvent`s out) so
//! the tricky parts — tool calls assembled from fragments, usage arriving
//! late or not at all — are tested without a network.

mod anthropic;
mod openai;
mod sse;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::domain::models::{Provider, ProviderKind};

/// One model call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's own model id (`gpt-4.1`), not `provider/model`.
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<ChatMessage>,
    /// Empty: the model is called without tools (it must answer).
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    /// Anthropic requires one and gets [`DEFAULT_MAX_TOKENS`] without it.
    pub max_tokens: Option<u32>,
}

/// What Anthropic is sent when a request names no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Clone, Debug, PartialEq)]
pub enum ChatMessage {
    User { content: String },
    Assistant { content: String, tool_calls: Vec<ToolCall> },
    Tool { tool_call_id: String, content: String },
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// The JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model sent them: JSON text, possibly invalid
    /// (the loop decides what to do with that).
    pub arguments: String,
}

/// What a call's stream yields: text as it comes, each tool call once
/// complete, the usage when the provider reports it (some never do), and
/// `Finished` last.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatEvent {
    TextDelta(String),
    ToolCall(ToolCall),
    Usage { input_tokens: u64, output_tokens: u64 },
    Finished { reason: FinishReason },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    EndTurn,
    ToolCalls,
    MaxTokens,
    /// What the provider said, when it is none of the above.
    Other(String),
}

/// Why a call failed. Never carries our key: a provider's message that
/// echoes it is redacted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider is rate limiting us")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, 529 overloaded, 408.
    #[error("the provider is unavailable (HTTP {status})")]
    Unavailable { status: u16, retry_after: Option<Duration> },
    /// Any other 4xx: a bad key, a bad request. `message` is the
    /// provider's.
    #[error("the provider refused the call (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("could not talk to the provider: {0}")]
    Network(String),
    #[error("the provider's answer made no sense: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Worth trying again: rate limits, outages, a dropped connection.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Network(_))
    }

    /// How long the provider asked us to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// An error a provider reports by kind (inside a stream, or in an
    /// error body), as the HTTP status that kind stands for.
    fn from_kind(kind: &str, message: String) -> ProviderError {
        let kind = kind.to_ascii_lowercase();
        if kind.contains("rate_limit") || kind.contains("quota") {
            return ProviderError::RateLimited { retry_after: None };
        }
        let status = match kind.as_str() {
            "overloaded_error" | "overloaded" => 529,
            "invalid_request_error" | "invalid_request" => 400,
            "authentication_error" => 401,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            // api_error, server_error, and whatever a server invents.
            _ => return ProviderError::Unavailable { status: 500, retry_after: None },
        };
        if status == 529 {
            ProviderError::Unavailable { status, retry_after: None }
        } else {
            ProviderError::Refused { status, message }
        }
    }
}

/// Turns one wire format's SSE events into `ChatEvent`s.
trait Decoder: Send + 'static {
    /// One SSE event: its `event:` name (`message` when absent) and data.
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<ChatEvent>, ProviderError>;
    /// The body ended: what is still pending, or an error when the
    /// provider stopped before saying it was done.
    fn end(&mut self) -> Result<Vec<ChatEvent>, ProviderError>;
    /// The provider said the answer is complete; nothing more is read.
    fn done(&self) -> bool;
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream that sends nothing for this long is given up.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A `Retry-After` longer than this is not waited for.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// The HTTP client model calls should use: a 10 s connect timeout and no
/// total one (a stream lasts as long as the model writes).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().unwrap_or_default()
}

/// Starts a streamed call. An error before the stream starts (HTTP status,
/// no connection) is the `Err`; one during it (an error event, a dropped
/// connection, 120 s of silence) is an `Err` item, and the stream ends
/// after it. Dropping the stream aborts the HTTP body.
pub async fn stream_chat(
    http: &reqwest::Client,
    provider: &Provider,
    request: &ChatRequest,
) -> Result<BoxStream<'static, Result<ChatEvent, ProviderError>>, ProviderError> {
    open(http, provider, request, IDLE_TIMEOUT).await
}

/// [`stream_chat`], called again on a retryable error that happens before
/// any event arrived: at most `retries` more times, waiting `Retry-After`
/// when given (answering the error when that is over a minute), else
/// 500 ms, 1 s, 2 s…; answers the last error otherwise.
pub async fn stream_chat_with_retries(
    http: &reqwest::Client,
    provider: &Provider,
    request: &ChatRequest,
    retries: u32,
) -> Result<BoxStream<'static, Result<ChatEvent, ProviderError>>, ProviderError> {
    let mut attempt = 0;
    loop {
        let error = match stream_chat(http, provider, request).await {
            Ok(mut stream) => match stream.next().await {
                Some(Err(e)) if e.retryable() => e,
                first => return Ok(futures::stream::iter(first).chain(stream).boxed()),
            },
            Err(e) if e.retryable() => e,
            Err(e) => return Err(e),
        };
        let wait = match error.retry_after() {
            Some(wait) if wait > MAX_RETRY_WAIT => return Err(error),
            Some(wait) => wait,
            None => Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(6)),
        };
        if attempt >= retries {
            return Err(error);
        }
        tracing::debug!(provider = %provider.id, error = %error, ?wait, "retrying a model call");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

async fn open(
    http: &reqwest::Client,
    provider: &Provider,
    request: &ChatRequest,
    idle: Duration,
) -> Result<BoxStream<'static, Result<ChatEvent, ProviderError>>, ProviderError> {
    let key = provider.api_key.as_ref().map(|k| k.0.as_str()).filter(|k| !k.is_empty());
    let base = provider.base_url.trim_end_matches('/');
    let (builder, decoder): (_, Box<dyn Decoder>) = match provider.kind {
        ProviderKind::OpenAi => {
            let mut b = http.post(format!("{base}/chat/completions")).json(&openai::body(request));
            if let Some(key) = key {
                b = b.bearer_auth(key);
            }
            (b, Box::new(openai::Decode::default()))
        }
        ProviderKind::Anthropic => {
            let mut b = http
                .post(format!("{base}/messages"))
                .header("anthropic-version", anthropic::VERSION)
                .json(&anthropic::body(request));
            if let Some(key) = key {
                b = b.header("x-api-key", key);
            }
            (b, Box::new(anthropic::Decode::default()))
        }
    };
    let response = builder.header("accept", "text/event-stream").send().await.map_err(|e| network(&e, key))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = retry_after(response.headers());
        let body = tokio::time::timeout(Duration::from_secs(30), response.text()).await;
        let body = body.ok().and_then(Result::ok).unwrap_or_default();
        return Err(status_error(status.as_u16(), retry_after, &body, key));
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        return Err(ProviderError::Protocol("the provider answered JSON, not a stream".into()));
    }
    let key = key.map(str::to_string);
    let body = idle_guarded(response.bytes_stream(), idle);
    Ok(decode(body, decoder, key).boxed())
}

/// Why reading the body stopped.
enum BodyError {
    Read(reqwest::Error),
    Idle,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Read(e) => write!(f, "{}", chain(e)),
            BodyError::Idle => f.write_str("the provider stopped sending"),
        }
    }
}

/// The body's chunks, ending with `Idle` when none comes for `idle`. One
/// timer per stream, set again only when it fires (a timer per chunk cost
/// a registration and a removal per token).
fn idle_guarded<S, B>(body: S, idle: Duration) -> impl Stream<Item = Result<B, BodyError>> + Send + 'static
where
    S: Stream<Item = Result<B, reqwest::Error>> + Send + 'static,
    B: Send + 'static,
{
    struct Guarded<S> {
        body: Pin<Box<S>>,
        timer: Pin<Box<tokio::time::Sleep>>,
        last_chunk: tokio::time::Instant,
    }
    let start = tokio::time::Instant::now();
    let state =
        Guarded { body: Box::pin(body), timer: Box::pin(tokio::time::sleep_until(start + idle)), last_chunk: start };
    futures::stream::unfold(Some(state), move |state| async move {
        let mut s = state?;
        loop {
            tokio::select! {
                biased;
                next = s.body.next() => {
                    return match next {
                        Some(Ok(chunk)) => {
                            s.last_chunk = tokio::time::Instant::now();
                            Some((Ok(chunk), Some(s)))
                        }
                        Some(Err(e)) => Some((Err(BodyError::Read(e)), None)),
                        None => None,
                    };
                }
                () = &mut s.timer => {
                    let due = s.last_chunk + idle;
                    if tokio::time::Instant::now() >= due {
                        return Some((Err(BodyError::Idle), None));
                    }
                    s.timer.as_mut().reset(due);
                }
            }
        }
    })
}

/// Reads the body's server-sent events into the decoder; stops reading
/// (dropping the body) once it is done or after the first error, which
/// comes after whatever was decoded before it. The events of a chunk are
/// decoded together and handed out one by one.
fn decode<S>(
    body: S,
    decoder: Box<dyn Decoder>,
    key: Option<String>,
) -> impl Stream<Item = Result<ChatEvent, ProviderError>> + Send + 'static
where
    S: Stream<Item = Result<bytes::Bytes, BodyError>> + Send + 'static,
{
    struct State<S> {
        body: Option<Pin<Box<S>>>,
        reader: sse::SseReader,
        decoder: Box<dyn Decoder>,
        read: Vec<sse::SseEvent>,
        ready: VecDeque<Result<ChatEvent, ProviderError>>,
        key: Option<String>,
    }
    impl<S> State<S> {
        /// The body is not read any more; `error` is handed out last.
        fn stop(&mut self, error: Option<ProviderError>) {
            self.body = None;
            self.ready.extend(error.map(Err));
        }
    }
    let state = State {
        body: Some(Box::pin(body)),
        reader: sse::SseReader::default(),
        decoder,
        read: Vec::new(),
        ready: VecDeque::new(),
        key,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.ready.pop_front() {
                return Some((item, s));
            }
            let body = s.body.as_mut()?;
            let (failed, ended) = match body.next().await {
                Some(Ok(chunk)) => {
                    let read = s.reader.feed(&chunk, &mut s.read);
                    (read.err().map(|e| ProviderError::Protocol(format!("not a valid event stream: {e}"))), false)
                }
                Some(Err(BodyError::Idle)) => (Some(ProviderError::Network(BodyError::Idle.to_string())), false),
                Some(Err(e)) => (Some(ProviderError::Network(redact(&e.to_string(), s.key.as_deref()))), false),
                None => (None, true),
            };
            // The buffer is taken for the loop and put back, to be reused.
            let mut read = std::mem::take(&mut s.read);
            for event in read.drain(..) {
                match s.decoder.event(&event.event, &event.data) {
                    Ok(events) => s.ready.extend(events.into_iter().map(Ok)),
                    Err(e) => {
                        s.stop(Some(e));
                        break;
                    }
                }
                if s.decoder.done() {
                    s.stop(None);
                    break;
                }
            }
            s.read = read;
            if s.body.is_none() {
                continue;
            }
            if let Some(e) = failed {
                s.stop(Some(e));
            } else if ended {
                // The body ended (nothing read, no error): the decoder says
                // whether the answer was whole.
                match s.decoder.end() {
                    Ok(events) => s.ready.extend(events.into_iter().map(Ok)),
                    Err(e) => s.ready.push_back(Err(e)),
                }
                s.body = None;
            }
        }
    })
}

/// A non-2xx answer as the error it stands for.
fn status_error(status: u16, retry_after: Option<Duration>, body: &str, key: Option<&str>) -> ProviderError {
    match status {
        429 => ProviderError::RateLimited { retry_after },
        408 | 500..=599 => ProviderError::Unavailable { status, retry_after },
        _ => ProviderError::Refused { status, message: redact(&error_message(status, body), key) },
    }
}

/// The message in a provider's error body: `{"error": {"message"}}`
/// (OpenAI, Anthropic), `{"error": "…"}`, `{"message"}`, `{"detail"}`,
/// else the body's text, shortened.
fn error_message(status: u16, body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let found = [&json["error"]["message"], &json["error"], &json["message"], &json["detail"]]
        .into_iter()
        .find_map(|v| v.as_str().filter(|s| !s.trim().is_empty()));
    let text = found.unwrap_or(body).trim();
    if text.is_empty() {
        return format!("HTTP {status}");
    }
    let mut text = text.to_string();
    if text.len() > 500 {
        let mut end = 500;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// `Retry-After` in seconds (the form providers send).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

fn network(e: &reqwest::Error, key: Option<&str>) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::Network("the provider did not answer in time".into());
    }
    ProviderError::Network(redact(&chain(e), key))
}

/// An error and its causes, without the URL (it may carry credentials).
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the provider");
    }
    text
}

/// `text` with every occurrence of the key replaced.
fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(key) if !key.is_empty() => text.replace(key, "***"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_status_and_keep_the_providers_message() {
        let body =
            r#"{"error": {"message": "Incorrect API key provided: sk-secret-1", "type": "invalid_request_error"}}"#;
        let refused = status_error(401, None, body, Some("sk-secret-1"));
        assert_eq!(refused, ProviderError::Refused { status: 401, message: "Incorrect API key provided: ***".into() });
        assert!(!refused.retryable());
        let limited = status_error(429, Some(Duration::from_secs(3)), "", None);
        assert!(limited.retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(matches!(status_error(529, None, "", None), ProviderError::Unavailable { status: 529, .. }));
        assert_eq!(error_message(400, r#"{"detail": "no such model"}"#), "no such model");
        assert_eq!(error_message(404, "  "), "HTTP 404");
        assert_eq!(error_message(400, &"é".repeat(400)).chars().count(), 251, "cut at 500 bytes, plus …");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    /// A provider on loopback that answers one request with an SSE body
    /// written as `events`, each after its pause, then holds the
    /// connection open for `hold` without a word (or ends the body).
    async fn scripted_provider(events: Vec<(Duration, String)>, hold: Option<Duration>) -> Provider {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            for (pause, event) in events {
                tokio::time::sleep(pause).await;
                socket.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes()).await.unwrap();
            }
            match hold {
                Some(hold) => tokio::time::sleep(hold).await,
                None => socket.write_all(b"0\r\n\r\n").await.unwrap(),
            }
        });
        Provider {
            id: "scripted".into(),
            kind: ProviderKind::OpenAi,
            base_url,
            api_key: None,
            managed: false,
            byok: false,
            models: vec![],
        }
    }

    fn delta_event(text: &str) -> String {
        format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
    }

    #[tokio::test]
    async fn a_stream_that_goes_silent_ends_with_a_network_error() {
        let provider =
            scripted_provider(vec![(Duration::ZERO, delta_event("Hi"))], Some(Duration::from_secs(30))).await;
        let request = ChatRequest { model: "m".into(), ..Default::default() };
        let stream = open(&http_client(), &provider, &request, Duration::from_millis(300)).await.unwrap();
        let items: Vec<_> = stream.collect().await;
        assert_eq!(
            items,
            vec![
                Ok(ChatEvent::TextDelta("Hi".into())),
                Err(ProviderError::Network("the provider stopped sending".into()))
            ]
        );
    }

    #[tokio::test]
    async fn a_slow_stream_that_keeps_sending_is_read_to_its_end() {
        // Eight pieces 100 ms apart: longer in all than the idle limit of
        // 500 ms, never that long between two.
        let mut events: Vec<(Duration, String)> =
            (0..8).map(|i| (Duration::from_millis(100), delta_event(&format!("w{i} ")))).collect();
        events.push((Duration::ZERO, "data: [DONE]\n\n".into()));
        let provider = scripted_provider(events, None).await;
        let request = ChatRequest { model: "m".into(), ..Default::default() };
        let stream = open(&http_client(), &provider, &request, Duration::from_millis(500)).await.unwrap();
        let items: Vec<_> = stream.collect().await;
        let text: String = items
            .iter()
            .map(|item| match item {
                Ok(ChatEvent::TextDelta(t)) => t.clone(),
                Ok(_) => String::new(),
                Err(e) => panic!("the stream failed: {e:?}"),
            })
            .collect();
        assert_eq!(text, "w0 w1 w2 w3 w4 w5 w6 w7 ");
    }
}
