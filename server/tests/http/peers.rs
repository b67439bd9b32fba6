//! Peer messaging and the built-in tools (SPEC §10): two agents of one
//! project, each on its own model of the stand-in provider so each run
//! takes its own scripted answers, talk through `message_agent` and
//! `check_messages`; the hop budget, the wait-cycle check and the `peers`
//! allow-list hold; `get_time` answers in a time zone.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fake_provider::{FakeToolCall, Scripted};
use crate::sessions::{setup, Setup};
use crate::support::*;

/// The setup's agent is "Helper" on `big`; this adds "Researcher" on
/// `small`. Answers its id.
async fn researcher(t: &Setup) -> String {
    let body = json!({ "name": "Researcher", "model": "fake/small", "description": "Looks things up." });
    let created = t.api.post("/agents", body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    data(&created)["id"].as_str().unwrap().to_string()
}

fn call(id: &str, name: &str, arguments: Value) -> Scripted {
    Scripted::tool_call(id, name, &[&arguments.to_string()])
}

async fn messages(t: &Setup, session: &str) -> Vec<Value> {
    data(&t.api.get(&format!("/sessions/{session}/messages")).await)["items"].as_array().unwrap().clone()
}

/// The tool results of a session's transcript, parsed.
async fn tool_results(t: &Setup, session: &str) -> Vec<Value> {
    messages(t, session)
        .await
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap_or(m["content"].clone()))
        .collect()
}

/// The project's sessions for `agent`.
async fn sessions_of(t: &Setup, agent: &str) -> Vec<Value> {
    let listed = t.api.get(&format!("/sessions?projectId={}&agentId={agent}", t.project)).await;
    data(&listed)["items"].as_array().unwrap().clone()
}

async fn wait_idle(t: &Setup, session: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = data(&t.api.get(&format!("/sessions/{session}")).await);
        if !matches!(s["status"].as_str(), Some("running" | "awaiting_peer")) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_agents_message_each_other_and_the_reply_comes_back() {
    let mut t = setup().await;
    let researcher = researcher(&t).await;
    let session = t.session().await;
    // Helper asks; Researcher asks back before answering; Helper answers
    // that, then reads Researcher's reply.
    let big = [
        call("h1", "message_agent", json!({ "agent": "researcher", "message": "What is 2+2?" })),
        call("h2", "check_messages", json!({ "timeoutSeconds": 20 })),
        call("h3", "message_agent", json!({ "agent": researcher, "message": "In base 10." })),
        call("h4", "check_messages", json!({ "timeoutSeconds": 20 })),
        Scripted::text(&["Researcher says 4."]),
    ];
    for s in big {
        t.fake.push_for("big", s);
    }
    let small = [
        call("r1", "message_agent", json!({ "agent": "Helper", "message": "Which base?" })),
        call("r2", "check_messages", json!({ "timeoutSeconds": 20 })),
        Scripted::text(&["4"]),
    ];
    for s in small {
        t.fake.push_for("small", s);
    }

    let answer = t.say(&session, "Ask the researcher what 2+2 is").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let a = data(&answer);
    assert_eq!(a["message"]["content"], "Researcher says 4.");
    assert_eq!((a["run"]["status"].as_str(), a["run"]["steps"].as_i64()), (Some("completed"), Some(5)));

    // Helper's side: the receipt, Researcher's question, its own answer's
    // receipt, then the reply to the first receipt.
    let results = tool_results(&t, &session).await;
    assert_eq!(results.len(), 4, "{results:?}");
    assert_eq!(results[0]["status"], "queued");
    let receipt = results[0]["receiptId"].as_str().unwrap().to_string();
    let peer_session = results[0]["sessionId"].as_str().unwrap().to_string();
    let question = &results[1]["messages"][0];
    assert_eq!(
        (question["fromAgentName"].as_str(), question["kind"].as_str(), question["text"].as_str()),
        (Some("Researcher"), Some("message"), Some("Which base?"))
    );
    assert_eq!(question["fromAgentId"], researcher);
    assert_eq!(results[2]["sessionId"], peer_session.as_str(), "one session per agent per conversation");
    let reply = &results[3]["messages"][0];
    assert_eq!(
        (reply["kind"].as_str(), reply["text"].as_str(), reply["receiptId"].as_str()),
        (Some("reply"), Some("4"), Some(receipt.as_str()))
    );

    // Researcher's side, in the same project: the peer message that
    // started its run, marked with who sent it, and its answer.
    let theirs = sessions_of(&t, &researcher).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["id"], peer_session.as_str());
    assert_eq!(theirs[0]["title"], "Researcher ← Helper");
    let s = wait_idle(&t, &peer_session).await;
    assert_eq!(s["status"], "idle");
    let transcript = messages(&t, &peer_session).await;
    assert_eq!(
        (transcript[0]["role"].as_str(), transcript[0]["content"].as_str()),
        (Some("peer"), Some("What is 2+2?"))
    );
    assert_eq!(transcript[0]["fromAgentId"], t.agent.as_str());
    assert_eq!(transcript.last().unwrap()["content"], "4");
    let got = tool_results(&t, &peer_session).await;
    assert_eq!(got[1]["messages"][0]["text"], "In base 10.");

    // What Researcher's model was told: who wrote, by name and id.
    let asked = t.fake.requests().into_iter().find(|r| r.body["model"] == "small").unwrap();
    let turn = asked.body["messages"].as_array().unwrap().iter().find(|m| m["role"] == "user").unwrap().clone();
    assert_eq!(turn["content"], format!("[From agent Helper (id {})]\nWhat is 2+2?", t.agent));

    // The lab shows the conversation from both sides: Researcher's session
    // in the project's list, its peer message marked with Helper's name.
    let project = data(&t.api.get(&format!("/projects/{}", t.project)).await);
    let lab = format!("/{}/projects/{}", t.org, project["slug"].as_str().unwrap());
    let page = t.browser.page(&format!("{lab}?session={peer_session}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Researcher ← Helper"), "listed: {}", page.body);
    assert!(page.body.contains("From agent Helper") && page.body.contains("What is 2+2?"), "{}", page.body);
    let mine = t.browser.page(&format!("{lab}?session={session}")).await;
    assert!(mine.body.contains("message_agent") && mine.body.contains("Researcher says 4."), "{}", mine.body);
}

#[tokio::test]
async fn a_reply_to_an_agent_that_stopped_waiting_starts_its_next_run() {
    let t = setup().await;
    researcher(&t).await;
    let session = t.session().await;
    t.fake.push_for("big", call("h1", "message_agent", json!({ "agent": "Researcher", "message": "Look it up" })));
    t.fake.push_for("big", Scripted::text(&["Asked; the answer will follow."]));
    t.fake.push_for("small", Scripted::slow("…", Duration::from_millis(50)));
    let first = data(&t.say(&session, "Ask the researcher").await);
    assert_eq!(first["message"]["content"], "Asked; the answer will follow.");
    // The researcher is still at it; cancelling its run sends Helper why.
    t.fake.push_for("big", Scripted::text(&["The researcher could not finish."]));
    let peer_session = tool_results(&t, &session).await[0]["sessionId"].as_str().unwrap().to_string();
    let cancelled = t.api.post(&format!("/sessions/{peer_session}/cancel"), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    // Helper's session woke with the reply as a peer turn and answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    let transcript = loop {
        let transcript = messages(&t, &session).await;
        if transcript.last().is_some_and(|m| m["content"] == "The researcher could not finish.") {
            break transcript;
        }
        assert!(Instant::now() < deadline, "no second run: {transcript:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let woke = &transcript[transcript.len() - 2];
    assert_eq!(woke["role"], "peer");
    assert!(woke["content"].as_str().unwrap().contains("could not answer: its run ended with cancelled"), "{woke}");
}

#[tokio::test]
async fn a_conversation_stops_at_its_hop_budget() {
    let t = setup().await;
    researcher(&t).await;
    let session = t.session().await;
    // Nine messages at once: eight go, the ninth is refused.
    let calls = (1..=9)
        .map(|n| {
            FakeToolCall::new(
                &format!("h{n}"),
                "message_agent",
                &[&json!({ "agent": "Researcher", "message": format!("Question {n}") }).to_string()],
            )
        })
        .collect();
    t.fake.push_for("big", Scripted::tool_calls(calls));
    t.fake.push_for("big", Scripted::text(&["Enough."]));
    for _ in 0..9 {
        t.fake.push_for("small", Scripted::text(&["ok"]));
    }
    let a = data(&t.say(&session, "Ask a lot").await);
    assert_eq!(a["run"]["stopReason"], "end_turn", "a refused message is a result, not a stop");
    let results = tool_results(&t, &session).await;
    let queued = results.iter().filter(|r| r["status"] == "queued").count();
    let refused: Vec<&Value> = results.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!((queued, refused.len()), (8, 1), "{results:?}");
    assert!(refused[0]["error"].as_str().unwrap().contains("budget of 8 messages"), "{}", refused[0]);
}

#[tokio::test]
async fn waiting_on_an_agent_that_waits_on_you_answers_at_once() {
    let t = setup().await;
    researcher(&t).await;
    let session = t.session().await;
    // Helper asks, reads Researcher's question, then (wrongly) waits
    // without answering it, while Researcher waits for that answer.
    for s in [
        call("h1", "message_agent", json!({ "agent": "Researcher", "message": "Summarize the report" })),
        call("h2", "check_messages", json!({ "timeoutSeconds": 20 })),
        call("h3", "check_messages", json!({ "timeoutSeconds": 60 })),
        Scripted::text(&["Stuck."]),
    ] {
        t.fake.push_for("big", s);
    }
    for s in [
        call("r1", "message_agent", json!({ "agent": "Helper", "message": "Which report?" })),
        call("r2", "check_messages", json!({ "timeoutSeconds": 60 })),
        Scripted::text(&["Gave up."]),
    ] {
        t.fake.push_for("small", s);
    }
    // Helper's run, woken later by Researcher's reply, answers this.
    t.fake.push_for("big", Scripted::text(&["Noted."]));
    let started = Instant::now();
    let a = t.say(&session, "Get a summary").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["data"]["message"]["content"], "Stuck.");
    assert!(started.elapsed() < Duration::from_secs(20), "Helper did not wait out its 60 s: {:?}", started.elapsed());
    // Helper's second wait saw that Researcher waits on it, and said so.
    let helper = tool_results(&t, &session).await;
    let cycle = helper[2]["error"].as_str().unwrap_or_default();
    assert!(cycle.contains("Researcher is itself waiting for your answer"), "{helper:?}");
    // Researcher is still waiting (on Helper, which answers nothing more).
    let peer_session = helper[0]["sessionId"].as_str().unwrap().to_string();
    let s = data(&t.api.get(&format!("/sessions/{peer_session}")).await);
    assert_eq!(s["status"], "awaiting_peer");
    assert_eq!(t.api.post(&format!("/sessions/{peer_session}/cancel"), json!({})).await.status, StatusCode::OK);
    wait_idle(&t, &peer_session).await;
}

#[tokio::test]
async fn peers_outside_the_allow_list_and_unknown_agents_are_refused() {
    let mut t = setup().await;
    researcher(&t).await;
    let other = data(&t.api.post("/agents", json!({ "name": "Writer", "model": "fake/small" })).await)["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Helper may message Writer only (a stepped-up browser sets it).
    let set = t.browser.api(Method::PATCH, &format!("/api/v1/agents/{}", t.agent), json!({ "peers": [other] })).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let session = t.session().await;
    for s in [
        call("h1", "list_agents", json!({})),
        call("h2", "message_agent", json!({ "agent": "Researcher", "message": "hi" })),
        call("h3", "message_agent", json!({ "agent": "Nobody", "message": "hi" })),
        call("h4", "message_agent", json!({ "agent": "Helper", "message": "hi" })),
        Scripted::text(&["Done."]),
    ] {
        t.fake.push_for("big", s);
    }
    let a = data(&t.say(&session, "Try everyone").await);
    assert_eq!(a["run"]["stopReason"], "end_turn");
    let results = tool_results(&t, &session).await;
    let listed: Vec<&str> = results[0].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["Writer"], "only the allowed peers are listed");
    assert!(results[1]["error"].as_str().unwrap().contains("not among your peers"), "{}", results[1]);
    assert!(results[2]["error"].as_str().unwrap().contains("No agent is named \"Nobody\""), "{}", results[2]);
    assert!(results[3]["error"].as_str().unwrap().contains("cannot message yourself"), "{}", results[3]);
    assert!(sessions_of(&t, &other).await.is_empty(), "no message went anywhere");
}

#[tokio::test]
async fn get_time_answers_in_the_zone_asked() {
    let t = setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::tool_calls(vec![
        FakeToolCall::new("t1", "get_time", &[r#"{"timezone": "Asia/Tokyo"}"#]),
        FakeToolCall::new("t2", "get_time", &["{}"]),
        FakeToolCall::new("t3", "get_time", &[r#"{"timezone": "Mars/Olympus"}"#]),
    ]));
    t.fake.push(Scripted::text(&["It is late in Tokyo."]));
    let a = data(&t.say(&session, "What time is it in Tokyo?").await);
    assert_eq!(a["message"]["content"], "It is late in Tokyo.");
    let results = tool_results(&t, &session).await;
    let tokyo = &results[0];
    assert_eq!((tokyo["timezone"].as_str(), tokyo["offset"].as_str()), (Some("Asia/Tokyo"), Some("+09:00")));
    let local = chrono::DateTime::parse_from_rfc3339(tokyo["localTime"].as_str().unwrap()).unwrap();
    let utc = chrono::DateTime::parse_from_rfc3339(tokyo["utcTime"].as_str().unwrap()).unwrap();
    assert_eq!(local, utc, "the same instant");
    assert_eq!(local.timestamp(), tokyo["unixSeconds"].as_i64().unwrap());
    let now = t.server.ctx.clock.now().timestamp();
    assert!((now - local.timestamp()).abs() < 60, "the server's clock");
    assert_eq!((results[1]["timezone"].as_str(), results[1]["offset"].as_str()), (Some("UTC"), Some("+00:00")));
    assert!(results[2]["error"].as_str().unwrap().contains("not a time zone"), "{}", results[2]);
}
