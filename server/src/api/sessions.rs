//! `/api/v1/sessions` and `/api/v1/runs` (SPEC §10): sessions, their
//! transcripts, messages that start runs (answered as JSON once the run
//! ends, as its event stream, or at once with `?wait=false`), the event
//! stream of a session with replay, and cancel.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, State};
use axum::response::{IntoResponse, Response};
use futures::stream;
use http::header::{ACCEPT, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use uuid::Uuid;

use app::domain::sessions::{self, live, NewMessage, NewSession, SessionFilter};
use app::domain::Ctx;
use app::model::{MessageView, Page, RunAnswer, RunStarted, RunView, SessionView};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiJson, ApiQuery, ListParams};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

use super::sse::{self, KEEP_ALIVE, KEEP_ALIVE_FRAME};

/// The least time between two frames of a stream's text (see
/// `event_stream`): about one a screen refresh.
const FRAME_GAP: std::time::Duration = std::time::Duration::from_millis(16);

#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = NewSession,
    responses((status = 200, description = "The session", body = Envelope<SessionView>),
        (status = 404, description = "A project, agent or workspace that names nothing of this org", body = ErrorEnvelope),
        (status = 422, description = "Value out of range", body = ErrorEnvelope)))]
pub async fn create(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewSession>,
) -> Result<ApiOk<SessionView>, ApiError> {
    Ok(ApiOk(sessions::create(&ctx, &caller.actor, &caller.org, body).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
// Not deny_unknown_fields: a browser session names its org with `?org=`.
#[into_params(parameter_in = Query)]
pub struct SessionListParams {
    pub project_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    /// `idle | running | awaiting_peer | failed | cancelled`.
    #[param(pattern = "^(idle|running|awaiting_peer|failed|cancelled)$")]
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    #[param(max_length = 51, pattern = "^$|^[0-9]{1,18}-[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/sessions", tag = "sessions", params(SessionListParams),
    responses((status = 200, description = "Sessions, newest first", body = Envelope<Page<SessionView>>)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<SessionListParams>,
) -> Result<ApiOk<Page<SessionView>>, ApiError> {
    let page = ListParams { limit: params.limit, cursor: params.cursor }.page()?;
    let filter = SessionFilter { project_id: params.project_id, agent_id: params.agent_id, status: params.status };
    Ok(ApiOk(sessions::list(&ctx, &caller.org, &filter, page).await?))
}

#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The session", body = Envelope<SessionView>)))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<SessionView>, ApiError> {
    Ok(ApiOk(sessions::get(&ctx, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(get, path = "/sessions/{id}/messages", tag = "sessions", params(("id" = Uuid, Path), ListParams),
    responses((status = 200, description = "The transcript, oldest first", body = Envelope<Page<MessageView>>)))]
pub async fn messages(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiOk<Page<MessageView>>, ApiError> {
    Ok(ApiOk(sessions::messages(&ctx, &caller.org, parse_id(&id)?, params.page()?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
// Not deny_unknown_fields: a browser session names its org with `?org=`.
#[into_params(parameter_in = Query)]
pub struct PostParams {
    /// `false`: answer 202 with the run at once; it goes on in the background.
    pub wait: Option<bool>,
}

#[utoipa::path(post, path = "/sessions/{id}/messages", tag = "sessions", params(("id" = Uuid, Path), PostParams),
    request_body = NewMessage,
    description = "Starts a run. With `Accept: text/event-stream` the answer is the run's event stream (`event: <type>`, `id: <seq>`, `data: {\"seq\", \"runId\", …}`, a keep-alive comment every 15 s); otherwise it waits for the run to end and answers its last assistant message and the run; with `?wait=false`, 202 with the run at once. A `clientMessageId` sent again attaches to the run it started. 60 messages a minute per user and IP: then 429 with `Retry-After` and the body `{\"error\":\"Too many requests\",\"retryAfterMs\":n}`.",
    responses((status = 200, description = "The run ended (or its event stream, as text/event-stream)", body = Envelope<RunAnswer>),
        (status = 202, description = "`?wait=false`: the run started", body = Envelope<RunStarted>),
        (status = 402, description = "Metering blocks the first model call (`details.reason`)", body = ErrorEnvelope),
        (status = 409, description = "The session is busy, or its agent is disabled or deleted", body = ErrorEnvelope),
        (status = 422, description = "Empty or too long", body = ErrorEnvelope),
        (status = 429, description = "Too many messages: `{\"error\":\"Too many requests\",\"retryAfterMs\":n}`"),
        (status = 503, description = "No model provider is configured", body = ErrorEnvelope)))]
pub async fn post_message(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<PostParams>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let session_id = parse_id(&id)?;
    // A session of another org (or none) is a 404 whatever the body says.
    let session = sessions::find(&ctx, &caller.org, session_id).await?;
    let headers = request.headers().clone();
    let ApiJson(body) = ApiJson::<NewMessage>::from_request(request, &()).await?;
    let posted = match sessions::post_message_to(&ctx, &caller.actor, &caller.org, session, body).await {
        Ok(posted) => posted,
        Err(e) if e.code == app::model::ErrorCode::TooManyRequests => return Ok(too_many(&e)),
        Err(e) => return Err(e.into()),
    };
    let run = posted.run;
    if wants_stream(&headers) {
        let after = sessions::run_start_seq(&ctx, session_id, run.id).await? - 1;
        return Ok(event_stream(&ctx, session_id, after, Some(run.id)).into_response());
    }
    if params.wait == Some(false) {
        return Ok((StatusCode::ACCEPTED, ApiOk(RunStarted { run })).into_response());
    }
    Ok(ApiOk(sessions::wait_answer(&ctx, &caller.org, run.id).await?).into_response())
}

/// The chat's own 429 body (SPEC §7), not the envelope.
fn too_many(e: &app::model::AppError) -> Response {
    let detail = |k: &str| e.details.as_ref().and_then(|d| d[k].as_u64()).unwrap_or(1000);
    let (millis, seconds) = (detail("retryAfterMs"), detail("retryAfterSeconds").max(1));
    let body = serde_json::json!({ "error": "Too many requests", "retryAfterMs": millis });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/event-stream"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
// Not deny_unknown_fields: a browser session names its org with `?org=`.
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Replay events after this seq (the `id:` of the last one seen); the
    /// `Last-Event-ID` header says the same. Absent: from the start.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

#[utoipa::path(get, path = "/sessions/{id}/events", tag = "sessions", params(("id" = Uuid, Path), EventParams),
    description = "Server-sent events: the stored events after `after` (or `Last-Event-ID`), then the live run's until it ends; with nothing running, the stream ends after the replay. Any server process sees the same run.",
    responses((status = 200, description = "text/event-stream"),
        (status = 422, description = "A negative `after`", body = ErrorEnvelope)))]
pub async fn events(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<EventParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = sessions::get(&ctx, &caller.org, parse_id(&id)?).await?;
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let after = params.after.or(header).unwrap_or(0);
    if after < 0 {
        return Err(ApiError(app::model::AppError::validation("after", "after: a seq, 0 or more")));
    }
    Ok(event_stream(&ctx, session.id, after, None).into_response())
}

/// The SSE answer over `live::follow`, read in the connection's own task.
/// A frame carries every event ready when it is written: a model
/// streaming faster than the client reads costs one write to the socket
/// per batch, not per token (a write per token was a third of the
/// server's time relaying a fast answer). A comment line goes out after
/// [`KEEP_ALIVE`] of quiet; its timer is set again only when it fires, not
/// per frame.
///
/// Text is paced (`FRAME_GAP`): a frame that carried deltas is followed by
/// the next one no sooner than `FRAME_GAP` later, holding whatever arrived
/// meanwhile (deltas merged into one event with the last seq, what a replay
/// of the stored rows sends too). A model answering a token at a time
/// slower than that is still relayed token by token, and the first delta
/// goes out at once; a fast model's text goes out about 60 times a second
/// instead of once per token, which is as often as a screen can show it and
/// spares the server, the network and the client a write and a parse per
/// token (relaying each token alone cost more than the rest of a run).
fn event_stream(ctx: &Ctx, session_id: Uuid, after: i64, until_run: Option<Uuid>) -> Response {
    struct Frames {
        follower: live::Follower,
        quiet: std::pin::Pin<Box<tokio::time::Sleep>>,
        last_sent: tokio::time::Instant,
        /// After a frame with text: when the next frame may go.
        paced_until: Option<tokio::time::Instant>,
    }
    let now = tokio::time::Instant::now();
    let state = Frames {
        follower: live::follow(ctx, session_id, after, until_run),
        quiet: Box::pin(tokio::time::sleep_until(now + KEEP_ALIVE)),
        last_sent: now,
        paced_until: None,
    };
    let frames = stream::unfold(state, move |mut s| async move {
        if let Some(until) = s.paced_until.take() {
            // Not reading meanwhile: what arrives is taken as one batch.
            // A stream that has sent its last event ends at once.
            if !s.follower.is_done() {
                tokio::time::sleep_until(until).await;
            }
        }
        loop {
            tokio::select! {
                biased;
                batch = s.follower.next_batch() => {
                    let events = match batch {
                        Ok(Some(events)) => events,
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::warn!(session = %session_id, error = %e, "following a session's events failed");
                            return None;
                        }
                    };
                    s.last_sent = tokio::time::Instant::now();
                    if events.iter().any(|e| e.kind == live::DELTA) {
                        s.paced_until = Some(s.last_sent + FRAME_GAP);
                    }
                    let mut frame = String::new();
                    for event in &live::merge_deltas(events) {
                        write_event(&mut frame, event);
                    }
                    return Some((Ok::<_, Infallible>(Bytes::from(frame)), s));
                }
                () = &mut s.quiet => {
                    let now = tokio::time::Instant::now();
                    let due = s.last_sent + KEEP_ALIVE;
                    if now >= due {
                        s.last_sent = now;
                        s.quiet.as_mut().reset(now + KEEP_ALIVE);
                        return Some((Ok(Bytes::from_static(KEEP_ALIVE_FRAME)), s));
                    }
                    s.quiet.as_mut().reset(due);
                }
            }
        }
    });
    sse::response(frames)
}

/// One event as SSE: `event:`, `id:` (its seq), `data:` (one line: the
/// JSON has no raw newlines).
fn write_event(frame: &mut String, event: &live::RunEvent) {
    use std::fmt::Write as _;
    let _ = write!(frame, "event: {}\nid: {}\ndata: {}\n\n", event.kind, event.seq, event.payload_json());
}

#[utoipa::path(post, path = "/sessions/{id}/cancel", tag = "sessions", params(("id" = Uuid, Path)),
    description = "Stops the running run within a second: the model stream and running tools are aborted, text already streamed is kept.",
    responses((status = 200, description = "The run, cancelled", body = Envelope<RunView>),
        (status = 409, description = "Nothing is running", body = ErrorEnvelope)))]
pub async fn cancel(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<RunView>, ApiError> {
    Ok(ApiOk(sessions::cancel(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "sessions", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The run", body = Envelope<RunView>)))]
pub async fn run(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<RunView>, ApiError> {
    Ok(ApiOk(sessions::run(&ctx, &caller.org, parse_id(&id)?).await?))
}
