//! Sessions, runs and the agent loop (SPEC §10) against a stand-in model
//! provider on loopback speaking the OpenAI wire format: replies streamed
//! as JSON or SSE, replay after a seq or `Last-Event-ID`, tools run
//! concurrently under their timeouts, the loop's stop reasons, cancel,
//! busy sessions and client message ids, metering per step, interrupted
//! runs, and another org's ids answering 404.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use app::domain::billing::{grants, plans};
use app::domain::orgs;
use app::domain::sessions::tools::{Tool, ToolContext, ToolFailure, ToolSource};
use app::domain::{providers::ToolSpec, Ctx};
use app::model::AgentView;

use crate::fake_provider::{FakeProvider, FakeToolCall, Scripted};
use crate::support::*;

/// 1,000 credits per million input tokens, 2,000 per million output: a
/// step of 1,000 in and 500 out costs 2 credits.
pub(crate) fn providers(fake: &FakeProvider) -> String {
    format!(
        r#"
[[providers]]
id = "fake"
kind = "openai"
base_url = "{}"

[[providers.models]]
id = "big"
input_credits_per_mtok = 1000
output_credits_per_mtok = 2000
fast_sibling = "small"

[[providers.models]]
id = "small"
input_credits_per_mtok = 100
output_credits_per_mtok = 200

[[providers.models]]
id = "tiny"
context_window = 2000
input_credits_per_mtok = 100
output_credits_per_mtok = 200
"#,
        fake.base_url()
    )
}

pub(crate) struct Setup {
    pub server: TestServer,
    pub fake: FakeProvider,
    pub api: Api,
    pub key: String,
    pub browser: Browser,
    pub org: String,
    pub org_id: Uuid,
    pub project: String,
    pub agent: String,
}

/// An org on `pro` with its 2,000 granted credits, a project and an agent
/// on the fake's `big` model.
pub(crate) async fn setup_with(agent: Value) -> Setup {
    setup_custom(agent, |_| {}).await
}

/// `setup_with`, the server's settings adjusted first.
pub(crate) async fn setup_custom(agent: Value, adjust: impl FnOnce(&mut server::Settings)) -> Setup {
    setup_config(providers, agent, adjust).await
}

/// The setup on the config `config` writes for the fake provider.
pub(crate) async fn setup_config(
    config: impl FnOnce(&FakeProvider) -> String,
    agent: Value,
    adjust: impl FnOnce(&mut server::Settings),
) -> Setup {
    let fake = FakeProvider::start().await;
    let server = start_with_config(&config(&fake), adjust).await;
    let (browser, org, key) = owner_with_key(&server, &[]).await;
    let org_id = orgs::find_by_slug(&server.ctx, &org).await.unwrap().unwrap();
    plans::set_package(&server.ctx, org_id, "pro").await.unwrap();
    grants::grant_now(&server.ctx, org_id).await.unwrap();
    let api = Api::new(&server, Some(&key));
    let project = data(&api.post("/projects", json!({ "name": "Lab" })).await)["id"].as_str().unwrap().to_string();
    let mut body = json!({ "name": "Helper", "model": "fake/big", "systemPrompt": "Be brief." });
    body.as_object_mut().unwrap().extend(agent.as_object().unwrap().clone());
    let created = api.post("/agents", body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let agent = data(&created)["id"].as_str().unwrap().to_string();
    Setup { server, fake, api, key, browser, org, org_id, project, agent }
}

pub(crate) async fn setup() -> Setup {
    setup_with(json!({})).await
}

impl Setup {
    pub(crate) async fn session(&self) -> String {
        let s = self.api.post("/sessions", json!({ "projectId": self.project, "agentId": self.agent })).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        data(&s)["id"].as_str().unwrap().to_string()
    }

    pub(crate) async fn say(&self, session: &str, content: &str) -> Answer {
        self.api.post(&format!("/sessions/{session}/messages"), json!({ "content": content })).await
    }

    pub(crate) async fn say_later(&self, session: &str, body: Value) -> Answer {
        self.api.post(&format!("/sessions/{session}/messages?wait=false"), body).await
    }

    pub(crate) async fn balance(&self) -> i64 {
        data(&self.api.get("/billing").await)["balance"]["creditMicrounits"].as_i64().unwrap()
    }

    pub(crate) async fn run(&self, id: &str) -> Value {
        data(&self.api.get(&format!("/runs/{id}")).await)
    }

    /// A GET of an SSE route, read to its end: `(type, id, data)` each.
    pub(crate) async fn stream(&self, path: &str, last_event_id: Option<&str>) -> Vec<(String, i64, Value)> {
        let mut req = self.api.raw().get(format!("{}/api/v1{path}", self.server.base)).bearer_auth(&self.key);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        assert_eq!(res.headers()["x-accel-buffering"], "no");
        parse_sse(&res.text().await.unwrap())
    }
}

fn parse_sse(text: &str) -> Vec<(String, i64, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut kind, mut id, mut data) = (String::new(), 0, String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().unwrap();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !kind.is_empty() {
            let value: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(value["seq"], id, "data.seq is the event id");
            out.push((kind, id, value));
        }
    }
    out
}

pub(crate) fn kinds(events: &[(String, i64, Value)]) -> Vec<&str> {
    events.iter().map(|(k, _, _)| k.as_str()).collect()
}

#[tokio::test]
async fn a_message_gets_the_reply_and_the_step_is_charged_once() {
    let mut t = setup().await;
    let session = t.session().await;
    let before = t.balance().await;
    t.fake.push(Scripted::text(&["Hel", "lo!"]).usage(1000, 500));
    let answer = t.say(&session, "Say hello").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let a = data(&answer);
    assert_eq!(a["message"]["role"], "assistant");
    assert_eq!(a["message"]["content"], "Hello!");
    let run = &a["run"];
    assert_eq!((run["status"].as_str(), run["stopReason"].as_str()), (Some("completed"), Some("end_turn")));
    assert_eq!((run["requestedModel"].as_str(), run["resolvedModel"].as_str()), (Some("fake/big"), Some("fake/big")));
    assert_eq!(
        (run["steps"].clone(), run["inputTokens"].clone(), run["outputTokens"].clone()),
        (json!(1), json!(1000), json!(500))
    );
    assert_eq!((run["creditMicrounits"].clone(), run["credits"].clone()), (json!(2_000_000), json!("2")));
    assert_eq!(before - t.balance().await, 2_000_000, "charged once, with the provider's usage");

    // What the provider was sent: the system prompt and the user's turn.
    let sent = &t.fake.requests()[0].body;
    assert_eq!(sent["model"], "big");
    assert_eq!(sent["messages"][0], json!({ "role": "system", "content": "Be brief." }));
    assert_eq!(sent["messages"][1]["content"], "Say hello");

    let messages = data(&t.api.get(&format!("/sessions/{session}/messages")).await);
    let roles: Vec<&str> = messages["items"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant"], "oldest first");
    let s = data(&t.api.get(&format!("/sessions/{session}")).await);
    assert_eq!((s["status"].clone(), s["lastRunId"].clone()), (json!("idle"), run["id"].clone()));
    assert_eq!(s["title"], "Chat with Helper");

    // A second message carries the whole conversation.
    t.fake.push(Scripted::text(&["Again."]));
    assert_eq!(t.say(&session, "Once more").await.status, StatusCode::OK);
    let requests = t.fake.requests();
    let contents: Vec<&str> =
        requests[1].body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap_or("")).collect();
    assert_eq!(contents, ["Be brief.", "Say hello", "Hello!", "Once more"]);

    // The overview counts the agent and its runs, on /api/v1 and the page.
    let o = data(&t.api.get("/dashboard/overview").await)["counts"].clone();
    assert_eq!(
        (o["agents"].clone(), o["runsLast30Days"].clone(), o["runsRunning"].clone()),
        (json!(1), json!(2), json!(0))
    );
    let page = t.browser.page(&format!("/{}", t.org)).await;
    assert!(page.body.contains("2 runs in the last 30 days"), "{}", page.body);
    // And the agents page says when the agent last ran.
    let agents = t.browser.page(&format!("/{}/agents", t.org)).await;
    assert!(agents.body.contains("last run ") && agents.body.contains(" (completed)"), "{}", agents.body);
    assert!(!agents.body.contains("never run yet"), "{}", agents.body);
}

#[tokio::test]
async fn fast_mode_runs_the_sibling_and_records_both_models() {
    let t = setup_with(json!({ "fastMode": true })).await;
    let session = t.session().await;
    t.fake.push(Scripted::text(&["quick"]).usage(1000, 500));
    let run = data(&t.say(&session, "hi").await)["run"].clone();
    assert_eq!((run["requestedModel"].as_str(), run["resolvedModel"].as_str()), (Some("fake/big"), Some("fake/small")));
    assert_eq!(t.fake.requests()[0].body["model"], "small");
    assert_eq!(run["creditMicrounits"], 200_000, "at the sibling's price");
}

#[tokio::test]
async fn the_stream_carries_every_event_and_replays_after_a_seq() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::text(&["Hel", "lo"]));
    let res = t
        .api
        .raw()
        .post(format!("{}/api/v1/sessions/{session}/messages", t.server.base))
        .bearer_auth(&t.key)
        .header("Accept", "text/event-stream")
        .json(&json!({ "content": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let live = parse_sse(&res.text().await.unwrap());
    // The deltas come one by one from memory, or coalesced from the
    // database when the run ended before the stream began: either way the
    // same text under the same seqs.
    let not_deltas: Vec<&str> = kinds(&live).into_iter().filter(|k| *k != "message.delta").collect();
    assert_eq!(not_deltas, ["run.started", "session.status", "message.completed", "session.status", "run.finished"]);
    let seqs: Vec<i64> = live.iter().map(|e| e.1).collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "seq counts up: {seqs:?}");
    assert_eq!(seqs.last().unwrap() - seqs[0], 6, "seven events, one seq each");
    let run_id = live[0].2["runId"].clone();
    assert!(live.iter().all(|e| e.2["runId"] == run_id));
    assert_eq!(live[0].2["resolvedModel"], "fake/big");
    let text: String = live.iter().filter(|e| e.0 == "message.delta").map(|e| e.2["text"].as_str().unwrap()).collect();
    assert_eq!(text, "Hello");
    let completed = live.iter().find(|e| e.0 == "message.completed").unwrap();
    assert_eq!(completed.2["content"], "Hello");
    assert_eq!(completed.2["usage"]["outputTokens"], 2);
    let finished = live.last().unwrap();
    assert_eq!(finished.2["stopReason"], "end_turn");
    let first_delta_seq = seqs[0] + 2;

    // Replayed from the database, where deltas written together are one
    // row (how many rows depends on the writer's 200 ms batches).
    let replay = t.stream(&format!("/sessions/{session}/events?after=0"), None).await;
    let others: Vec<&str> = kinds(&replay).into_iter().filter(|k| *k != "message.delta").collect();
    assert_eq!(others, ["run.started", "session.status", "message.completed", "session.status", "run.finished"]);
    let text: String =
        replay.iter().filter(|e| e.0 == "message.delta").map(|e| e.2["text"].as_str().unwrap()).collect();
    assert_eq!(text, "Hello");
    assert_eq!(replay.last().unwrap().1, finished.1, "the same seqs");
    // Resuming after the first delta (inside a coalesced row, or not)
    // skips exactly what was seen.
    let first_delta = first_delta_seq.to_string();
    let resumed = t.stream(&format!("/sessions/{session}/events"), Some(&first_delta)).await;
    assert_eq!(resumed[0].0, "message.delta");
    assert_eq!(resumed[0].2["text"], "lo");
    // After the end: nothing, and the stream ends.
    let last = finished.1;
    assert!(t.stream(&format!("/sessions/{session}/events?after={last}"), None).await.is_empty());
    let bad = t.api.get(&format!("/sessions/{session}/events?after=-1")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_long_fast_answer_streams_whole_and_resumes_exactly_after_any_delta() {
    let t = setup().await;
    let session = t.session().await;
    let pieces: Vec<String> = (0..2000).map(|i| format!("w{i} ")).collect();
    let whole: String = pieces.concat();
    t.fake.push(Scripted::text(&pieces.iter().map(String::as_str).collect::<Vec<_>>()));
    let res = t
        .api
        .raw()
        .post(format!("{}/api/v1/sessions/{session}/messages", t.server.base))
        .bearer_auth(&t.key)
        .header("Accept", "text/event-stream")
        .json(&json!({ "content": "hi" }))
        .send()
        .await
        .unwrap();
    let live = parse_sse(&res.text().await.unwrap());
    let deltas: Vec<&(String, i64, Value)> = live.iter().filter(|e| e.0 == "message.delta").collect();
    let text: String = deltas.iter().map(|e| e.2["text"].as_str().unwrap()).collect();
    assert_eq!(text, whole, "every piece, once, in order");
    assert!(live.windows(2).all(|w| w[1].1 > w[0].1), "ids count up");
    assert!(deltas.iter().all(|e| e.2["seq"] == e.1), "an event's seq is its id");
    // Text is paced: a fast answer reaches the client as a few events a
    // screen refresh, not an event per token (a thousand events would need
    // the pieces 16 ms apart, sixteen seconds of answer).
    assert!(deltas.len() < pieces.len() / 2, "{} delta events for {} pieces", deltas.len(), pieces.len());
    // A client that resumes after any delta it got gets exactly the rest
    // of the text (deltas merged into one event, which happens when the
    // run outpaces the reader, carry their last piece's seq; the rows it
    // resumes from are coalesced).
    for cut in [0, deltas.len() / 2, deltas.len() - 1] {
        let seen: String = deltas[..=cut].iter().map(|e| e.2["text"].as_str().unwrap()).collect();
        let id = deltas[cut].1.to_string();
        let resumed = t.stream(&format!("/sessions/{session}/events"), Some(&id)).await;
        let rest: String =
            resumed.iter().filter(|e| e.0 == "message.delta").map(|e| e.2["text"].as_str().unwrap()).collect();
        assert_eq!(format!("{seen}{rest}"), whole, "resumed after delta {cut} (id {id})");
    }
}

/// Test tools: `slow_echo` answers its arguments after 300 ms and notes
/// when it ran; `stuck` never answers (its timeout is 200 ms).
struct TestTools {
    spans: Arc<Mutex<Vec<(Instant, Instant)>>>,
}

struct SlowEcho(Arc<Mutex<Vec<(Instant, Instant)>>>);
struct Stuck;

#[async_trait::async_trait]
impl Tool for SlowEcho {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "slow_echo".into(),
            description: "Echoes".into(),
            parameters: json!({"type": "object", "properties": {"say": {"type": "string"}}, "required": ["say"]}),
        }
    }
    async fn call(&self, _cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.lock().unwrap().push((start, Instant::now()));
        Ok(json!({ "echo": arguments["say"] }))
    }
}

#[async_trait::async_trait]
impl Tool for Stuck {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "stuck".into(), description: "Hangs".into(), parameters: json!({"type": "object"}) }
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(200)
    }
    async fn call(&self, cx: &ToolContext, _arguments: Value) -> Result<Value, ToolFailure> {
        cx.cancel.cancelled().await;
        Err(ToolFailure("cancelled".into()))
    }
}

#[async_trait::async_trait]
impl ToolSource for TestTools {
    async fn tools(&self, _ctx: &Ctx, _org: Uuid, _agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(SlowEcho(self.spans.clone())), Arc::new(Stuck)]
    }
}

/// A tool with a bug: it panics, in the loop's own task.
struct PanicTools;
struct Panics;

#[async_trait::async_trait]
impl Tool for Panics {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "panics".into(), description: "Panics".into(), parameters: json!({"type": "object"}) }
    }
    async fn call(&self, _cx: &ToolContext, _arguments: Value) -> Result<Value, ToolFailure> {
        panic!("a tool's bug")
    }
}

#[async_trait::async_trait]
impl ToolSource for PanicTools {
    async fn tools(&self, _ctx: &Ctx, _org: Uuid, _agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(Panics)]
    }
}

#[tokio::test]
async fn a_run_whose_loop_panics_ends_interrupted_and_frees_its_session() {
    let t = setup().await;
    t.server.ctx.tools.add_source(Arc::new(PanicTools));
    let session = t.session().await;
    t.fake.push(Scripted::tool_calls(vec![FakeToolCall::new("c1", "panics", &["{}"])]));
    let answer = t.say(&session, "go").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let run = &data(&answer)["run"];
    assert_eq!((run["status"].as_str(), run["stopReason"].as_str()), (Some("failed"), Some("interrupted")), "{run}");
    assert_eq!(run["error"], "Internal error", "the panic's text stays in the log");
    let events = t.stream(&format!("/sessions/{session}/events"), None).await;
    let last = events.last().unwrap();
    assert_eq!((last.0.as_str(), last.2["stopReason"].as_str()), ("run.finished", Some("interrupted")));

    // The session is free for the next message.
    t.fake.push(Scripted::text(&["Fine now."]));
    let next = t.say(&session, "again").await;
    assert_eq!(data(&next)["message"]["content"], "Fine now.", "{}", next.body);
}

#[tokio::test]
async fn tool_calls_run_at_once_each_under_its_timeout() {
    let t = setup().await;
    let spans = Arc::new(Mutex::new(Vec::new()));
    t.server.ctx.tools.add_source(Arc::new(TestTools { spans: spans.clone() }));
    let session = t.session().await;
    t.fake.push(Scripted::tool_calls(vec![
        FakeToolCall::new("c1", "slow_echo", &[r#"{"say": "#, r#""one"}"#]),
        FakeToolCall::new("c2", "slow_echo", &[r#"{"say": "two"}"#]),
        FakeToolCall::new("c3", "stuck", &["{}"]),
    ]));
    t.fake.push(Scripted::text(&["Done."]));
    let answer = data(&t.say(&session, "go").await);
    assert_eq!(answer["message"]["content"], "Done.");
    assert_eq!(answer["run"]["steps"], 2);

    let spans = spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 2);
    let (a, b) = (spans[0], spans[1]);
    assert!(a.0 < b.1 && b.0 < a.1, "the two calls overlapped: {spans:?}");

    let events = t.stream(&format!("/sessions/{session}/events"), None).await;
    let finished: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.0 == "tool_call.finished")
        .map(|e| (e.2["toolCallId"].as_str().unwrap().to_string(), e.2["status"].as_str().unwrap().to_string()))
        .collect();
    assert!(finished.contains(&("c1".into(), "ok".into())) && finished.contains(&("c2".into(), "ok".into())));
    assert!(finished.contains(&("c3".into(), "timeout".into())), "{finished:?}");
    let started = events.iter().find(|e| e.0 == "tool_call.started").unwrap();
    assert_eq!(
        (started.2["name"].as_str(), started.2["arguments"].clone()),
        (Some("slow_echo"), json!({ "say": "one" }))
    );
    let c1 = events.iter().find(|e| e.0 == "tool_call.finished" && e.2["toolCallId"] == "c1").unwrap();
    assert_eq!(c1.2["output"], json!({ "echo": "one" }));
    assert!(c1.2["durationMs"].as_u64().unwrap() >= 300);

    // The results went back to the model, one tool message per call.
    let second = &t.fake.requests()[1].body["messages"];
    let tool_results: Vec<&Value> = second.as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(tool_results.len(), 3);
    assert_eq!(tool_results[0]["tool_call_id"], "c1");
    assert!(tool_results[2]["content"].as_str().unwrap().contains("did not answer"), "{}", tool_results[2]);
    // And the transcript has them: user, assistant (calls), 3 tools, assistant.
    let messages = data(&t.api.get(&format!("/sessions/{session}/messages")).await);
    let items = messages["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[1]["toolCalls"][0], json!({ "id": "c1", "name": "slow_echo", "arguments": { "say": "one" } }));
    assert_eq!(items[2]["toolCallId"], "c1");
}

#[tokio::test]
async fn a_malformed_call_goes_back_once_and_a_second_stops_the_run() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::tool_call("c1", "no_such_tool", &["{}"]));
    t.fake.push(Scripted::tool_call("c2", "list_agents", &["{not json"]));
    t.fake.push(Scripted::text(&["never asked"]));
    let run = data(&t.say(&session, "go").await)["run"].clone();
    assert_eq!((run["status"].as_str(), run["stopReason"].as_str()), (Some("failed"), Some("invalid_tool_call")));
    assert!(run["error"].as_str().unwrap().contains("not valid JSON"), "{run}");
    let told = &t.fake.requests()[1].body["messages"];
    let result = told.as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
    assert!(result["content"].as_str().unwrap().contains("There is no tool named"), "{result}");
    assert_eq!(t.fake.requests().len(), 2);
    let s = data(&t.api.get(&format!("/sessions/{session}")).await);
    assert_eq!(s["status"], "failed");
}

#[tokio::test]
async fn the_same_call_a_third_time_is_a_loop() {
    let t = setup().await;
    let session = t.session().await;
    for id in ["c1", "c2", "c3"] {
        t.fake.push(Scripted::tool_call(id, "list_agents", &["{}"]));
    }
    let run = data(&t.say(&session, "go").await)["run"].clone();
    assert_eq!(run["stopReason"], "loop_detected", "{run}");
    assert_eq!(run["steps"], 3);
}

#[tokio::test]
async fn the_last_step_offers_no_tools_so_the_model_answers() {
    let t = setup_with(json!({ "maxSteps": 2 })).await;
    let session = t.session().await;
    t.fake.push(Scripted::tool_call("c1", "list_agents", &["{}"]));
    t.fake.push(Scripted::text(&["Here is what I found."]));
    let answer = data(&t.say(&session, "who else is here?").await);
    assert_eq!(answer["run"]["stopReason"], "max_steps");
    assert_eq!(answer["message"]["content"], "Here is what I found.");
    let requests = t.fake.requests();
    assert!(requests[0].body["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == "list_agents")));
    assert!(requests[1].body.get("tools").is_none(), "no tools on the last step: {}", requests[1].body);
    // list_agents answered: no other agent here yet.
    let tool = requests[1].body["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap().clone();
    assert_eq!(tool["content"], "[]");
}

#[tokio::test]
async fn provider_errors_are_retried_then_end_the_run() {
    let t = setup().await;
    let session = t.session().await;
    for _ in 0..3 {
        t.fake.push(Scripted::error(503, "upstream down"));
    }
    let run = data(&t.say(&session, "hi").await)["run"].clone();
    assert_eq!((run["status"].as_str(), run["stopReason"].as_str()), (Some("failed"), Some("provider_error")));
    assert!(run["error"].as_str().unwrap().contains("503"), "{run}");
    assert_eq!(t.fake.requests().len(), 3, "tried, then retried twice");
    assert_eq!(run["creditMicrounits"], 0);
}

#[tokio::test]
async fn cancel_stops_the_stream_within_a_second_and_keeps_the_text() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::slow("tick ", Duration::from_millis(50)));
    let started = t.say_later(&session, json!({ "content": "count" })).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let run_id = data(&started)["run"]["id"].as_str().unwrap().to_string();
    assert_eq!(data(&started)["run"]["status"], "running");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let cancelled = t.api.post(&format!("/sessions/{session}/cancel"), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert!(asked.elapsed() < Duration::from_secs(1), "cancel answered once the run stopped");
    assert_eq!(
        (data(&cancelled)["status"].as_str(), data(&cancelled)["stopReason"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    assert!(t.fake.wait_for_disconnect(Duration::from_secs(1)).await, "the model stream was aborted");
    let messages = data(&t.api.get(&format!("/sessions/{session}/messages")).await);
    let assistant = &messages["items"][1];
    assert!(assistant["content"].as_str().unwrap().starts_with("tick tick"), "{assistant}");
    assert_eq!(t.run(&run_id).await["status"], "cancelled");
    let again = t.api.post(&format!("/sessions/{session}/cancel"), json!({})).await;
    assert_eq!((again.status, error_code(&again).as_str()), (StatusCode::CONFLICT, "CONFLICT"));
    assert_eq!(audit_count(&t.server, "session.cancel").await, 1, "the stop is recorded, the refused one not");
    assert_eq!(data(&t.api.get(&format!("/sessions/{session}")).await)["status"], "cancelled");
}

#[tokio::test]
async fn a_busy_session_refuses_another_message_and_a_client_id_attaches() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::slow("…", Duration::from_millis(50)));
    let first = t.say_later(&session, json!({ "content": "one", "clientMessageId": "m-1" })).await;
    let run_id = data(&first)["run"]["id"].clone();
    let busy = t.say_later(&session, json!({ "content": "two" })).await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert!(busy.json()["error"]["message"].as_str().unwrap().contains("busy"));
    let replay = t.say_later(&session, json!({ "content": "one", "clientMessageId": "m-1" })).await;
    assert_eq!(replay.status, StatusCode::ACCEPTED);
    assert_eq!(data(&replay)["run"]["id"], run_id, "the same run, not another");
    t.api.post(&format!("/sessions/{session}/cancel"), json!({})).await;
    // Once it ended the id still names that run; the transcript has one "one".
    let again = t.say_later(&session, json!({ "content": "one", "clientMessageId": "m-1" })).await;
    assert_eq!(data(&again)["run"]["id"], run_id);
    let messages = data(&t.api.get(&format!("/sessions/{session}/messages")).await);
    let users = messages["items"].as_array().unwrap().iter().filter(|m| m["role"] == "user").count();
    assert_eq!(users, 1);
    let asked: Vec<Value> = t
        .fake
        .requests()
        .iter()
        .map(|r| r.body["messages"].as_array().unwrap().last().unwrap()["content"].clone())
        .collect();
    assert!(asked.iter().all(|c| c == "one"), "only the first message reached the model: {asked:?}");
}

#[tokio::test]
async fn a_run_the_package_does_not_cover_is_a_402_before_anything_starts() {
    let t = setup().await;
    plans::set_package(&t.server.ctx, t.org_id, "free").await.unwrap();
    let session = t.session().await;
    let refused = t.say(&session, "hi").await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED, "{}", refused.body);
    assert_eq!(refused.json()["error"]["details"]["reason"], "package_blocks");
    assert!(t.fake.requests().is_empty());
    let messages = data(&t.api.get(&format!("/sessions/{session}/messages")).await);
    assert_eq!(messages["items"], json!([]), "nothing recorded");
    assert_eq!(data(&t.api.get(&format!("/sessions/{session}")).await)["status"], "idle");
}

#[tokio::test]
async fn a_run_left_running_by_a_stopped_process_is_interrupted() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::slow("…", Duration::from_millis(50)));
    let run_id =
        data(&t.say_later(&session, json!({ "content": "hi" })).await)["run"]["id"].as_str().unwrap().to_string();
    // Pretend another process owned it and stopped 1 minute ago: its row
    // keeps saying running, with an old heartbeat.
    let id: Uuid = run_id.parse().unwrap();
    let old = chrono::Utc::now() - chrono::Duration::minutes(1);
    let live = t.server.ctx.hub.by_run(id).unwrap();
    app::db::exec_on_db!(&t.server.ctx.db, |p| sqlx::query(
        "UPDATE runs SET owner = 'gone', heartbeat_at = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(old)
    .execute(p)
    .await)
    .unwrap();
    live.cancel.cancel();
    live.wait_finished().await;
    // (this process finished it as cancelled; make it look unfinished again)
    app::db::exec_on_db!(&t.server.ctx.db, |p| sqlx::query(
        "UPDATE runs SET status = 'running', stop_reason = NULL, finished_at = NULL WHERE id = $1"
    )
    .bind(id)
    .execute(p)
    .await)
    .unwrap();
    let marked = app::domain::sessions::store::mark_interrupted(
        &t.server.ctx,
        false,
        chrono::Utc::now() - chrono::Duration::seconds(20),
    )
    .await
    .unwrap();
    assert_eq!(marked, 1);
    let run = t.run(&run_id).await;
    assert_eq!((run["status"].as_str(), run["stopReason"].as_str()), (Some("failed"), Some("interrupted")));
    let events = t.stream(&format!("/sessions/{session}/events"), None).await;
    let last = events.last().unwrap();
    assert_eq!((last.0.as_str(), last.2["stopReason"].as_str()), ("run.finished", Some("interrupted")));
    // A run of a live process (fresh heartbeat) is left alone.
    assert_eq!(
        app::domain::sessions::store::mark_interrupted(&t.server.ctx, false, old - chrono::Duration::minutes(1))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn another_orgs_sessions_and_ids_are_404() {
    let t = setup().await;
    let session = t.session().await;
    let (_, _, other_key) = owner_with_key(&t.server, &[]).await;
    let other = Api::new(&t.server, Some(&other_key));
    for path in
        [format!("/sessions/{session}"), format!("/sessions/{session}/messages"), format!("/sessions/{session}/events")]
    {
        assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        other.post(&format!("/sessions/{session}/messages"), json!({ "content": "hi" })).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.post(&format!("/sessions/{session}/cancel"), json!({})).await.status, StatusCode::NOT_FOUND);
    let foreign = other.post("/sessions", json!({ "projectId": t.project, "agentId": t.agent })).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "another org's project and agent name nothing");
    assert_eq!(data(&other.get("/sessions").await)["items"], json!([]));
    let bad = t.api.post("/sessions", json!({ "projectId": t.project, "agentId": Uuid::new_v4() })).await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    let empty = t.say(&session, "   ").await;
    assert_eq!(
        (empty.status, empty.json()["error"]["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("content"))
    );
    let listed = data(&t.api.get(&format!("/sessions?projectId={}&status=idle", t.project)).await);
    assert_eq!(listed["items"][0]["id"], session.as_str());
    assert_eq!(t.api.get("/sessions?status=sleeping").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn chat_messages_are_limited_to_60_a_minute() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::slow("…", Duration::from_millis(50)));
    let first = t.say_later(&session, json!({ "content": "first", "clientMessageId": "c-1" })).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let first_run = data(&first)["run"]["id"].clone();
    for _ in 1..60 {
        assert_eq!(t.say_later(&session, json!({ "content": "again" })).await.status, StatusCode::CONFLICT);
    }
    let limited = t.say_later(&session, json!({ "content": "too many" })).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let body = limited.json();
    assert_eq!(body["error"], "Too many requests");
    assert!(body["retryAfterMs"].as_u64().unwrap() > 0);
    assert_eq!(body.as_object().unwrap().len(), 2, "exactly that body: {body}");
    assert!(limited.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // A message sent again (its clientMessageId) is a replay, not a new
    // message: past the limit it still attaches to its run.
    let replay = t.say_later(&session, json!({ "content": "first", "clientMessageId": "c-1" })).await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    assert_eq!(data(&replay)["run"]["id"], first_run);
    t.api.post(&format!("/sessions/{session}/cancel"), json!({})).await;
}

#[tokio::test]
async fn the_lab_without_javascript_starts_a_session_and_shows_the_answer() {
    let mut t = setup().await;
    let project = data(&t.api.get(&format!("/projects/{}", t.project)).await);
    let lab = format!("/{}/projects/{}", t.org, project["slug"].as_str().unwrap());
    let page = t.browser.page(&lab).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("New session") && page.body.contains("No sessions yet."), "{}", page.body);

    let started =
        t.browser.submit("start_session", &lab, &[("org", &t.org), ("project", &t.project), ("agent", &t.agent)]).await;
    assert_eq!(started.status, StatusCode::FOUND, "{}", started.body);
    let location = started.location().unwrap();
    assert!(location.starts_with(&format!("{lab}?session=")), "{location}");
    let session = location.rsplit('=').next().unwrap().to_string();

    t.fake.push(Scripted::text(&["Plain ", "answer."]));
    let sent = t
        .browser
        .submit(
            "send_chat_message",
            &location,
            &[("org", &t.org), ("session", &session), ("content", "Hi there"), ("client_message_id", "form-1")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::FOUND, "{}", sent.body);
    // Answered only once the run ended: the page it returns to has the reply.
    let page = t.browser.page(&location).await;
    assert!(page.body.contains("Hi there") && page.body.contains("Plain answer."), "{}", page.body);
    assert!(page.body.contains(">idle<"), "the session's badge");
    // Sending the same form again attaches to that run.
    t.browser
        .submit(
            "send_chat_message",
            &location,
            &[("org", &t.org), ("session", &session), ("content", "Hi there"), ("client_message_id", "form-1")],
        )
        .await;
    assert_eq!(t.fake.requests().len(), 1);

    // Another org's member gets the 404 page for the lab and its chat.
    let (mut other, _, _) = owner_with_key(&t.server, &[]).await;
    assert_eq!(other.page(&location).await.status, StatusCode::NOT_FOUND);
    let chat = other.call("get_chat", &[("org", &t.org), ("session", &session)]).await;
    assert_eq!(chat.status, StatusCode::NOT_FOUND);
    let missing = t.browser.page(&format!("/{}/projects/no-such-project", t.org)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// Two server processes on one PostgreSQL (on SQLite there is one
/// process, so this test has nothing to check there): a stream opened on
/// the second follows a run executing on the first, and a cancel sent to
/// the second stops it.
#[tokio::test]
async fn a_second_process_follows_and_cancels_a_run_of_the_first() {
    if postgres_url().is_none() {
        return;
    }
    let t = setup().await;
    let shared = t.server.database_url.clone();
    // What travels between the processes: NOTIFY payloads of ids.
    let mut listener = sqlx::postgres::PgListener::connect(&shared).await.unwrap();
    listener.listen(app::domain::events::CHANNEL).await.unwrap();
    let other = start_with_config(&providers(&t.fake), move |s| s.database_url = Some(shared)).await;
    let b = Api::new(&other, Some(&t.key));
    let session = t.session().await;
    t.fake.push(Scripted::slow("tick ", Duration::from_millis(50)));
    let run_id = data(&t.say_later(&session, json!({ "content": "count" })).await)["run"]["id"].clone();
    assert!(t.server.ctx.hub.by_run(run_id.as_str().unwrap().parse().unwrap()).is_some(), "it runs on the first");

    let events_url = format!("{}/api/v1/sessions/{session}/events", other.base);
    let key = t.key.clone();
    let follower = tokio::spawn(async move {
        let res = reqwest::Client::new().get(events_url).bearer_auth(key).send().await.unwrap();
        parse_sse(&res.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let asked = Instant::now();
    let cancelled = b.post(&format!("/sessions/{session}/cancel"), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(data(&cancelled)["status"], "cancelled");
    assert!(asked.elapsed() < Duration::from_secs(2), "stopped within the owner's 400 ms look plus a flush");
    assert!(t.fake.wait_for_disconnect(Duration::from_secs(1)).await, "the first process aborted the model stream");

    let seen = tokio::time::timeout(Duration::from_secs(5), follower).await.expect("the stream ended").unwrap();
    let text: String = seen.iter().filter(|e| e.0 == "message.delta").map(|e| e.2["text"].as_str().unwrap()).collect();
    assert!(text.starts_with("tick tick"), "deltas reached the second process: {text:?}");
    let last = seen.last().unwrap();
    assert_eq!((last.0.as_str(), last.2["stopReason"].as_str()), ("run.finished", Some("cancelled")));
    assert_eq!(data(&b.get(&format!("/runs/{}", run_id.as_str().unwrap())).await)["status"], "cancelled");

    let mut payloads = Vec::new();
    while let Ok(Ok(note)) = tokio::time::timeout(Duration::from_millis(200), listener.recv()).await {
        payloads.push(note.payload().to_string());
    }
    assert!(payloads.contains(&format!("run_events:{session}")), "each stored batch is signalled: {payloads:?}");
    assert!(payloads.contains(&format!("run_cancel:{}", run_id.as_str().unwrap())), "{payloads:?}");
}

#[tokio::test]
async fn what_is_sent_fits_the_context_window_and_the_run_says_what_was_left_out() {
    let mut t = setup_with(json!({ "model": "fake/tiny" })).await;
    // No tools, so the window holds the prompt, the answer's reserve and
    // the turns only: 2,000 - 500 - 4 - 3 leaves 1,493 tokens; a message
    // of 2,000 characters counts 504.
    let set =
        t.browser.api(reqwest::Method::PATCH, &format!("/api/v1/agents/{}", t.agent), json!({ "tools": [] })).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let session = t.session().await;
    let turn = |n: u32| format!("{n}{}", "a".repeat(1999));
    for n in 1..=3 {
        t.fake.push(Scripted::text(&["ok"]));
        let a = data(&t.say(&session, &turn(n)).await);
        let omitted = (a["run"]["omittedMessages"].as_i64().unwrap(), a["run"]["omittedTokens"].as_i64().unwrap());
        if n < 3 {
            assert_eq!(omitted, (0, 0), "turn {n} fits whole");
        } else {
            assert_eq!(omitted, (2, 509), "the oldest turn, question and answer, was left out");
        }
    }
    let sent: Vec<String> = t.fake.requests()[2].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().chars().take(1).collect())
        .collect();
    assert_eq!(sent, ["B", "2", "o", "3"], "the system prompt, the second turn and the current one");
    // The transcript itself keeps everything.
    assert_eq!(data(&t.api.get(&format!("/sessions/{session}/messages")).await)["items"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn an_anthropic_provider_runs_the_loop_with_tools_and_exact_credits() {
    let anthropic = |fake: &FakeProvider| {
        format!(
            r#"
[[providers]]
id = "claude"
kind = "anthropic"
base_url = "{}"

[[providers.models]]
id = "sonnet"
context_window = 200000
input_credits_per_mtok = 300
output_credits_per_mtok = 1500
"#,
            fake.base_url()
        )
    };
    let t = setup_config(anthropic, json!({ "model": "claude/sonnet" }), |_| {}).await;
    let session = t.session().await;
    let before = t.balance().await;
    t.fake.push(
        Scripted::tool_calls(vec![FakeToolCall::new("toolu_1", "get_time", &[r#"{"timez"#, r#"one": "UTC"}"#])])
            .usage(2_000, 100),
    );
    t.fake.push(Scripted::text(&["It is ", "noon."]).usage(2_500, 40));
    let a = data(&t.say(&session, "What time is it?").await);
    assert_eq!(a["message"]["content"], "It is noon.");
    let run = &a["run"];
    assert_eq!((run["stopReason"].as_str(), run["steps"].as_i64()), (Some("end_turn"), Some(2)));
    // Credits per million tokens are micro-credits per token.
    let expected = 2_000 * 300 + 100 * 1_500 + 2_500 * 300 + 40 * 1_500;
    assert_eq!(run["creditMicrounits"], expected);
    assert_eq!(before - t.balance().await, expected);
    let requests = t.fake.requests();
    assert!(requests.iter().all(|r| r.path == "/v1/messages"), "the Messages API");
    // The tool's result went back as a tool_result block of a user turn.
    let second = &requests[1].body;
    assert_eq!(second["system"], "Be brief.");
    let last = second["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_1");
    assert!(last["content"][0]["content"].as_str().unwrap().contains("\"timezone\":\"UTC\""), "{last}");
}

#[tokio::test]
async fn a_client_that_read_run_finished_may_send_the_next_message_at_once() {
    let t = setup().await;
    let session = t.session().await;
    // Each stream is read to its end (`run.finished`), and the next
    // message goes straight after: the session is free by then.
    for n in 0..15 {
        t.fake.push(Scripted::text(&["ok"]));
        let res = t
            .api
            .raw()
            .post(format!("{}/api/v1/sessions/{session}/messages", t.server.base))
            .bearer_auth(&t.key)
            .header("Accept", "text/event-stream")
            .json(&json!({ "content": format!("message {n}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "message {n}: {}", res.text().await.unwrap());
        let events = parse_sse(&res.text().await.unwrap());
        assert_eq!(events.last().map(|e| e.0.as_str()), Some("run.finished"), "message {n}");
    }
}

/// The agent a run reads is kept in memory on SQLite until the agents
/// table changes: a change to it applies to the very next message.
#[tokio::test]
async fn an_agent_changed_between_messages_applies_to_the_next_run() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::text(&["One."]));
    assert_eq!(t.say(&session, "First").await.status, StatusCode::OK);
    assert_eq!(t.fake.requests()[0].body["messages"][0]["content"], "Be brief.");

    let changed = t.api.patch(&format!("/agents/{}", t.agent), json!({ "systemPrompt": "Be kind." })).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    t.fake.push(Scripted::text(&["Two."]));
    assert_eq!(t.say(&session, "Second").await.status, StatusCode::OK);
    assert_eq!(t.fake.requests()[1].body["messages"][0]["content"], "Be kind.", "the new prompt at once");

    let disabled = t.api.patch(&format!("/agents/{}", t.agent), json!({ "enabled": false })).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let refused = t.say(&session, "Third").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("disabled"), "{}", refused.body);

    assert_eq!(t.api.delete(&format!("/agents/{}", t.agent)).await.status, StatusCode::OK);
    let refused = t.say(&session, "Fourth").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("deleted"), "{}", refused.body);
    assert_eq!(t.fake.requests().len(), 2, "no model call for a refused message");
}
