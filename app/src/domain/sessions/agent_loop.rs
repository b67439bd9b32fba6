//! The agent loop (SPEC §10): model call (streamed) → tool calls, several
//! at once, each under its timeout → results → again, until the model
//! answers without calling a tool. The rules, in the order they apply:
//! - cancel stops the model stream and running tools at once; text
//!   already streamed is kept as the assistant's message;
//! - each managed step is authorized before (an estimate) and charged
//!   after with the provider's usage (usage id = run and step); blocked →
//!   `billing.required`, then `payment_required`;
//! - on the last allowed step the model gets no tools, so it must answer
//!   (`max_steps`);
//! - a malformed call (arguments not JSON, unknown or disallowed tool,
//!   arguments failing the schema) goes back as an error result once; a
//!   second in the run → `invalid_tool_call`;
//! - the same tool with the same arguments a third time → `loop_detected`;
//! - provider 429/5xx are retried twice (honouring `Retry-After`), then
//!   `provider_error`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::context;
use super::live::{self, LiveRun, FINISHED};
use super::store::{self, NewMessage, StoredMessage};
use super::tools::{check_arguments, Tool, ToolContext};
use crate::domain::billing::metering::{self, Source, Usage};
use crate::domain::models::{Model, Provider};
use crate::domain::providers::{self, ChatEvent, ChatMessage, ChatRequest, ProviderError, ToolCall};
use crate::domain::{billing, Ctx};
use crate::model::{AgentView, AppError, OrgSummary};

/// Provider retries after the first try (SPEC §10: twice).
const PROVIDER_RETRIES: u32 = 2;
/// A tool's output is cut to this many characters before the model sees it.
const MAX_TOOL_OUTPUT_CHARS: usize = 100_000;
/// The estimate `authorize` checks: the history's characters / 4 as input
/// tokens, and this many output tokens.
const ESTIMATED_OUTPUT_TOKENS: u64 = 500;
/// Text deltas that arrived together are sent as one event up to this size.
const MAX_DELTA_BYTES: usize = 8 * 1024;

/// What a run needs, resolved when it was started.
#[derive(Clone)]
pub struct Plan {
    pub org: OrgSummary,
    pub project_id: Uuid,
    pub session_id: Uuid,
    pub run_id: Uuid,
    pub agent: AgentView,
    pub provider: Provider,
    pub model: Model,
    /// `None`: a free model of the operator (Ollama), not metered.
    pub source: Option<Source>,
    /// When the run was started (its duration's metric).
    pub started: Instant,
    /// Whether its turn is peer messages it delivers, whose senders get
    /// its answer as their reply (`peers::after_run`).
    pub answers_peers: bool,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stop_reason: &'static str,
    pub error: Option<String>,
}

impl Outcome {
    fn stop(stop_reason: &'static str) -> Outcome {
        Outcome { stop_reason, error: None }
    }

    fn failed(stop_reason: &'static str, error: impl Into<String>) -> Outcome {
        Outcome { stop_reason, error: Some(error.into()) }
    }

    /// The run's status for this stop reason.
    pub fn status(&self) -> &'static str {
        match self.stop_reason {
            "end_turn" | "max_steps" => "completed",
            "cancelled" => "cancelled",
            _ => "failed",
        }
    }

    /// The session's status after the run.
    pub fn session_status(&self) -> &'static str {
        match self.status() {
            "completed" => "idle",
            other => other,
        }
    }
}

/// Totals kept on the run row as it goes.
#[derive(Default, Clone, Copy)]
pub struct Totals {
    pub steps: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub credit_microunits: i64,
    pub omitted_messages: i64,
    pub omitted_tokens: i64,
}

/// Runs the loop to its end and records how it ended. Never panics out:
/// the caller's supervisor records a panic as a failed run. `history`: the
/// session's messages if already read (by the claim, on SQLite).
pub async fn drive(
    ctx: Ctx,
    live: Arc<LiveRun>,
    plan: Plan,
    tools: Vec<Arc<dyn Tool>>,
    history: Option<Vec<store::MessageRow>>,
) {
    let mut totals = Totals::default();
    let outcome = run_steps(&ctx, &live, &plan, &tools, history, &mut totals).await;
    finish(&ctx, &live, &plan, outcome, totals).await;
}

/// Records the end: the run row, the session's status, the last events,
/// then lets the listeners go.
pub async fn finish(ctx: &Ctx, live: &LiveRun, plan: &Plan, outcome: Outcome, totals: Totals) {
    let session_status = outcome.session_status();
    // Held back from listeners until the end is recorded below, so a
    // client that reads `run.finished` finds the session free.
    live.emit_held("session.status", json!({ "status": session_status }));
    live.emit_held(
        FINISHED,
        json!({ "status": outcome.status(), "stopReason": outcome.stop_reason, "error": outcome.error }),
    );
    // The last events and the end in one transaction: a listener
    // elsewhere stops reading once the run row no longer says `running`,
    // so by then they must all be stored.
    let end = live::RunEnd {
        run_id: plan.run_id,
        status: outcome.status(),
        stop_reason: outcome.stop_reason,
        error: outcome.error.clone(),
        session_status,
        totals,
    };
    let mut recorded = false;
    for attempt in 0..5 {
        match live::flush_with(ctx, live, Some(end.clone())).await {
            Ok(()) => {
                recorded = true;
                break;
            }
            Err(e) => {
                tracing::warn!(run = %plan.run_id, attempt, error = %e, "writing a run's end failed");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    // Without its last events, the end at least: the session is free again.
    if !recorded {
        if let Err(e) = store::record_end(ctx, plan, &outcome, totals).await {
            tracing::error!(run = %plan.run_id, error = %e, "recording the end of a run failed");
        }
    }
    let source = plan.source.map_or("free", Source::label);
    let seconds = plan.started.elapsed().as_secs_f64();
    let tokens = (totals.input_tokens, totals.output_tokens);
    crate::domain::metrics::run_finished(outcome.status(), outcome.stop_reason, seconds, source, tokens);
    live.finish();
    ctx.hub.remove(live);
    super::peers::after_run(ctx, plan, &outcome).await;
}

async fn run_steps(
    ctx: &Ctx,
    live: &LiveRun,
    plan: &Plan,
    tools: &[Arc<dyn Tool>],
    read: Option<Vec<store::MessageRow>>,
    totals: &mut Totals,
) -> Outcome {
    let resolved = format!("{}/{}", plan.provider.id, plan.model.id);
    live.emit("run.started", json!({ "requestedModel": plan.agent.model, "resolvedModel": resolved }));
    live.emit("session.status", json!({ "status": "running" }));
    let history = async {
        let rows = match read {
            Some(rows) => rows,
            None => store::messages(ctx, plan.session_id).await?,
        };
        store::transcript(ctx, rows).await
    };
    let mut history = match history.await {
        Ok(history) => history,
        Err(e) => return Outcome::failed("provider_error", format!("The conversation could not be read: {e}")),
    };
    let specs: Vec<_> = tools.iter().map(|t| t.spec()).collect();
    let max_steps = plan.agent.max_steps.max(1);
    let mut invalid_calls = 0;
    let mut seen_calls: HashMap<(String, String), u32> = HashMap::new();
    for step in 1..=max_steps {
        if live.cancel.is_cancelled() {
            return Outcome::stop("cancelled");
        }
        let last = step == max_steps && !specs.is_empty();
        let step_tools = if last { Vec::new() } else { specs.clone() };
        let budget = context::budget(plan.model.context_window, &plan.agent.system_prompt, &step_tools);
        let fitted = match context::fit(&history, budget) {
            Ok(fitted) => fitted,
            Err(needed) => {
                return Outcome::failed(
                    "provider_error",
                    format!(
                        "The message needs about {needed} tokens, more than the model's context window leaves for \
                         it ({budget}): send a shorter one or pick a model with a larger window"
                    ),
                );
            }
        };
        totals.omitted_messages = totals.omitted_messages.max(fitted.omitted_messages as i64);
        totals.omitted_tokens = totals.omitted_tokens.max(fitted.omitted_tokens as i64);
        if let Some(outcome) = authorize(ctx, live, plan, &fitted.messages).await {
            return outcome;
        }
        let request = ChatRequest {
            model: plan.model.id.clone(),
            system: Some(plan.agent.system_prompt.clone()).filter(|s| !s.trim().is_empty()),
            messages: fitted.messages,
            tools: step_tools,
            temperature: plan.agent.temperature.map(|t| t as f32),
            max_tokens: None,
        };
        let answer = call_model(ctx, live, plan, &request).await;
        totals.steps = step;
        // Without the provider's figures: an estimate, when it answered
        // anything at all (a call that failed outright costs nothing).
        let usage = answer.usage.unwrap_or_else(|| match answer.text.is_empty() && answer.calls.is_empty() {
            true => (0, 0),
            false => estimate_usage(&request, &answer),
        });
        totals.input_tokens += usage.0 as i64;
        totals.output_tokens += usage.1 as i64;
        let charged = charge(ctx, plan, step, usage).await;
        if let Ok(micros) = charged {
            totals.credit_microunits += micros;
        }
        // Tool calls the model made on a step that offered none are not run.
        let calls = if last || specs.is_empty() { Vec::new() } else { answer.calls.clone() };
        let stopped_early = answer.stop.is_some() || charged.is_err();
        if !answer.text.is_empty() || !calls.is_empty() || !stopped_early {
            let message = NewMessage::assistant(plan, answer.text.clone(), if stopped_early { &[] } else { &calls });
            match store::append(ctx, message).await {
                Ok(stored) => emit_completed(live, &stored, usage, charged.as_ref().copied().unwrap_or(0)),
                Err(e) => return Outcome::failed("provider_error", format!("The answer could not be saved: {e}")),
            }
        }
        if let Some(outcome) = answer.stop {
            return outcome;
        }
        if let Err(e) = charged {
            return billing_required(live, &e);
        }
        history.push(ChatMessage::Assistant { content: answer.text, tool_calls: calls.clone() });
        if calls.is_empty() {
            return Outcome::stop(if last { "max_steps" } else { "end_turn" });
        }
        // Going on: the totals so far are recorded now (the run's end
        // records them with it), so a run cut short by a crash keeps them.
        let _ = store::record_totals(ctx, plan.run_id, *totals).await;
        match run_tools(ctx, live, plan, tools, &calls, &mut invalid_calls, &mut seen_calls).await {
            Ok(results) => history.extend(results),
            Err(outcome) => return outcome,
        }
    }
    Outcome::stop("max_steps")
}

/// Checks the estimate of the next managed step; `Some` when blocked.
async fn authorize(ctx: &Ctx, live: &LiveRun, plan: &Plan, history: &[ChatMessage]) -> Option<Outcome> {
    let source = plan.source?;
    let chars: usize = history.iter().map(message_chars).sum::<usize>() + plan.agent.system_prompt.len();
    let micros = plan.model.charge_microunits((chars / 4) as u64, ESTIMATED_OUTPUT_TOKENS);
    let usage = Usage { org_id: plan.org.id, agent_id: Some(plan.agent.id), source, micros };
    match metering::authorize(ctx, &usage).await {
        Ok(()) => None,
        Err(e) if e.code == crate::model::ErrorCode::PaymentRequired => Some(billing_required(live, &e)),
        Err(e) => Some(Outcome::failed("provider_error", format!("Billing could not be checked: {}", e.message))),
    }
}

fn billing_required(live: &LiveRun, e: &AppError) -> Outcome {
    let reason = e.details.as_ref().and_then(|d| d.get("reason")).and_then(Value::as_str).unwrap_or("no_credits");
    live.emit("billing.required", json!({ "reason": reason, "message": e.message, "billingUrl": "billing" }));
    Outcome::failed("payment_required", e.message.clone())
}

/// Charges a managed step with its real usage; answers the micro-units.
async fn charge(ctx: &Ctx, plan: &Plan, step: i64, (input, output): (u64, u64)) -> Result<i64, AppError> {
    // Free models and BYOK ones cost nothing and leave no ledger entry.
    let Some(source) = plan.source.filter(|s| *s != Source::Byok) else { return Ok(0) };
    let micros = plan.model.charge_microunits(input, output);
    if micros == 0 {
        return Ok(0);
    }
    let usage = Usage { org_id: plan.org.id, agent_id: Some(plan.agent.id), source, micros };
    metering::charge(ctx, &format!("run:{}:step:{step}", plan.run_id), &usage).await?;
    Ok(micros)
}

fn emit_completed(live: &LiveRun, message: &StoredMessage, (input, output): (u64, u64), micros: i64) {
    live.emit(
        "message.completed",
        json!({
            "messageId": message.id,
            "role": message.role,
            "content": message.content,
            "usage": { "inputTokens": input, "outputTokens": output, "creditMicrounits": micros,
                       "credits": billing::credits(micros).credits },
        }),
    );
}

/// What one model call gave.
#[derive(Default)]
struct Answer {
    text: String,
    calls: Vec<ToolCall>,
    usage: Option<(u64, u64)>,
    /// The run stops after this step (cancelled, provider error).
    stop: Option<Outcome>,
}

async fn call_model(ctx: &Ctx, live: &LiveRun, plan: &Plan, request: &ChatRequest) -> Answer {
    let mut answer = Answer::default();
    let http = &ctx.http;
    let started = tokio::select! {
        started = providers::stream_chat_with_retries(http, &plan.provider, request, PROVIDER_RETRIES) => started,
        () = live.cancel.cancelled() => {
            answer.stop = Some(Outcome::stop("cancelled"));
            return answer;
        }
    };
    let mut stream = match started {
        Ok(stream) => stream,
        Err(e) => {
            answer.stop = Some(provider_failed(&e));
            return answer;
        }
    };
    // An event read ahead while gathering text deltas, to handle next.
    let mut ahead = None;
    loop {
        let next = match ahead.take() {
            Some(next) => next,
            None => tokio::select! {
                next = stream.next() => next,
                // Dropping the stream aborts the HTTP body.
                () = live.cancel.cancelled() => {
                    answer.stop = Some(Outcome::stop("cancelled"));
                    return answer;
                }
            },
        };
        match next {
            Some(Ok(ChatEvent::TextDelta(mut text))) => {
                // The deltas that have already arrived go out as one event:
                // a model streaming faster than it is read costs one event
                // per read rather than per token, and nothing waits for it.
                while text.len() < MAX_DELTA_BYTES {
                    match stream.next().now_or_never() {
                        Some(Some(Ok(ChatEvent::TextDelta(more)))) => text.push_str(&more),
                        Some(other) => {
                            ahead = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                answer.text.push_str(&text);
                live.emit(live::DELTA, json!({ "text": text }));
            }
            Some(Ok(ChatEvent::ToolCall(call))) => answer.calls.push(call),
            Some(Ok(ChatEvent::Usage { input_tokens, output_tokens })) => {
                answer.usage = Some((input_tokens, output_tokens));
            }
            Some(Ok(ChatEvent::Finished { .. })) | None => return answer,
            Some(Err(e)) => {
                answer.stop = Some(provider_failed(&e));
                return answer;
            }
        }
    }
}

fn provider_failed(e: &ProviderError) -> Outcome {
    Outcome::failed("provider_error", e.to_string())
}

/// When the provider reports no usage: characters / 4, rounded up.
fn estimate_usage(request: &ChatRequest, answer: &Answer) -> (u64, u64) {
    let input: usize =
        request.messages.iter().map(message_chars).sum::<usize>() + request.system.as_ref().map_or(0, String::len);
    let output = answer.text.len() + answer.calls.iter().map(|c| c.arguments.len() + c.name.len()).sum::<usize>();
    (input.div_ceil(4) as u64, output.div_ceil(4) as u64)
}

fn message_chars(m: &ChatMessage) -> usize {
    match m {
        ChatMessage::User { content } | ChatMessage::Tool { content, .. } => content.len(),
        ChatMessage::Assistant { content, tool_calls } => {
            content.len() + tool_calls.iter().map(|c| c.arguments.len()).sum::<usize>()
        }
    }
}

/// A call checked and ready to run, or refused with the reason the model
/// gets back.
enum Checked {
    Run(Arc<dyn Tool>, Value),
    Refused(String),
}

fn check_call(tools: &[Arc<dyn Tool>], call: &ToolCall) -> Checked {
    let Some(tool) = tools.iter().find(|t| t.spec().name == call.name) else {
        return Checked::Refused(format!("There is no tool named {:?} you may call.", call.name));
    };
    let arguments: Value =
        match serde_json::from_str(if call.arguments.trim().is_empty() { "{}" } else { &call.arguments }) {
            Ok(v) => v,
            Err(e) => return Checked::Refused(format!("The arguments are not valid JSON ({e}).")),
        };
    match check_arguments(&tool.spec().parameters, &arguments) {
        Ok(()) => Checked::Run(tool.clone(), arguments),
        Err(problem) => Checked::Refused(format!("The arguments do not match the tool's schema: {problem}.")),
    }
}

/// Runs the step's calls, concurrently, and answers their results for the
/// model; `Err` when the run must stop.
async fn run_tools(
    ctx: &Ctx,
    live: &LiveRun,
    plan: &Plan,
    tools: &[Arc<dyn Tool>],
    calls: &[ToolCall],
    invalid_calls: &mut u32,
    seen_calls: &mut HashMap<(String, String), u32>,
) -> Result<Vec<ChatMessage>, Outcome> {
    let mut results: Vec<Option<(String, Value)>> = vec![None; calls.len()];
    let mut ready = Vec::new();
    let mut stop: Option<Outcome> = None;
    for (index, call) in calls.iter().enumerate() {
        let arguments = serde_json::from_str::<Value>(&call.arguments).unwrap_or(Value::String(call.arguments.clone()));
        live.emit("tool_call.started", json!({ "toolCallId": call.id, "name": call.name, "arguments": arguments }));
        let refused = match check_call(tools, call) {
            Checked::Refused(reason) => {
                *invalid_calls += 1;
                if *invalid_calls >= 2 && stop.is_none() {
                    stop = Some(Outcome::failed("invalid_tool_call", format!("{}: {reason}", call.name)));
                }
                Some(reason)
            }
            Checked::Run(tool, arguments) => {
                let times = seen_calls.entry((call.name.clone(), arguments.to_string())).or_insert(0);
                *times += 1;
                if *times >= 3 {
                    if stop.is_none() {
                        stop = Some(Outcome::failed(
                            "loop_detected",
                            format!("{} was called a third time with the same arguments", call.name),
                        ));
                    }
                    Some("This exact call was already made twice in this run.".to_string())
                } else {
                    ready.push((index, tool, arguments));
                    None
                }
            }
        };
        if let Some(reason) = refused {
            let output = json!({ "error": reason });
            finished_event(live, call, "error", &output, 0);
            results[index] = Some(("error".into(), output));
        }
    }
    // A run that stops here runs none of the step's other calls: they are
    // answered `cancelled`.
    let mut running = FuturesUnordered::new();
    for (index, tool, arguments) in ready {
        if stop.is_some() {
            let output = json!({ "error": "Not run: the run stopped." });
            finished_event(live, &calls[index], "cancelled", &output, 0);
            results[index] = Some(("cancelled".into(), output));
            continue;
        }
        let cx = ToolContext {
            ctx: ctx.clone(),
            org: plan.org.clone(),
            project_id: plan.project_id,
            session_id: plan.session_id,
            run_id: plan.run_id,
            agent_id: plan.agent.id,
            cancel: live.cancel.child_token(),
        };
        running.push(run_one(index, tool, cx, arguments));
    }
    while let Some((index, status, output, duration_ms)) = running.next().await {
        finished_event(live, &calls[index], status, &output, duration_ms);
        results[index] = Some((status.to_string(), output));
    }
    let mut messages = Vec::new();
    for (call, result) in calls.iter().zip(results) {
        let (_, output) = result.unwrap_or_else(|| ("cancelled".into(), json!({ "error": "cancelled" })));
        let content = tool_output_text(&output);
        let saved = store::append(ctx, NewMessage::tool(plan, &call.id, content.clone())).await;
        if let Err(e) = saved {
            return Err(Outcome::failed("provider_error", format!("A tool result could not be saved: {e}")));
        }
        messages.push(ChatMessage::Tool { tool_call_id: call.id.clone(), content });
    }
    if live.cancel.is_cancelled() {
        return Err(Outcome::stop("cancelled"));
    }
    match stop {
        Some(outcome) => Err(outcome),
        None => Ok(messages),
    }
}

async fn run_one(
    index: usize,
    tool: Arc<dyn Tool>,
    cx: ToolContext,
    arguments: Value,
) -> (usize, &'static str, Value, u64) {
    let started = Instant::now();
    let timeout = tool.timeout();
    let cancel: CancellationToken = cx.cancel.clone();
    let (status, output) = tokio::select! {
        result = tokio::time::timeout(timeout, tool.call(&cx, arguments)) => match result {
            Ok(Ok(output)) => ("ok", output),
            Ok(Err(failure)) => ("error", json!({ "error": failure.0 })),
            Err(_) => ("timeout", json!({ "error": format!("The tool did not answer within {} s.", timeout.as_secs()) })),
        },
        () = cancel.cancelled() => ("cancelled", json!({ "error": "The run was cancelled." })),
    };
    (index, status, output, started.elapsed().as_millis() as u64)
}

fn finished_event(live: &LiveRun, call: &ToolCall, status: &str, output: &Value, duration_ms: u64) {
    live.emit(
        "tool_call.finished",
        json!({ "toolCallId": call.id, "name": call.name, "status": status, "output": output,
                "durationMs": duration_ms }),
    );
}

/// The text the model gets for a result: JSON, cut when very long.
fn tool_output_text(output: &Value) -> String {
    let text = match output {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_TOOL_OUTPUT_CHARS {
        let cut: String = text.chars().take(MAX_TOOL_OUTPUT_CHARS).collect();
        format!("{cut}… (cut at {MAX_TOOL_OUTPUT_CHARS} characters)")
    } else {
        text
    }
}
