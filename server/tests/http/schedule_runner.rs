//! The schedule runner (SPEC §11), driven by moving the app's clock and
//! calling its tick (the background runner is off in these servers): a
//! due time fires once in its zone and its history links the session; two
//! runners (and, on PostgreSQL, two server processes) racing for the same
//! due times fire each once; a firing still going makes the next one
//! `skipped`; a run past its limit is stopped and `stalled`; downtime with
//! `skip` and `run_once`; run now; and each failure reason reaches the
//! org's notifications with its payload.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use app::domain::schedules::runner;
use app::domain::{notifications, Ctx};

use crate::fake_provider::Scripted;
use crate::sessions::{providers, setup_config, Setup};
use crate::support::*;

async fn setup() -> Setup {
    let t = setup_config(providers, json!({}), |s| s.schedule_tick_ms = Some(0)).await;
    // Ten past an hour (at most an hour on): the tests move the clock by
    // minutes from here, and no hourly or daily due time may fall inside
    // those minutes by chance of when the test runs.
    let now = t.server.ctx.clock.now();
    let mut ten_past = now.duration_trunc(chrono::Duration::hours(1)).unwrap() + chrono::Duration::minutes(10);
    if ten_past < now {
        ten_past += chrono::Duration::hours(1);
    }
    t.server.ctx.clock.advance(ten_past - now);
    t
}

async fn create(t: &Setup, cron: &str, extra: Value) -> Value {
    let mut body = json!({ "name": "Digest", "cron": cron, "timezone": "UTC", "prompt": "Write the digest.",
                           "agentId": t.agent, "projectId": t.project });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = t.api.post("/schedules", body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    data(&created)
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("a time: {value}")).parse().unwrap()
}

/// Moves the clock of every `ctx` to `by` past the schedule's next run.
fn move_past(ctxs: &[&Ctx], schedule: &Value, by: chrono::Duration) {
    let target = at(&schedule["nextRunAt"]) + by;
    for ctx in ctxs {
        ctx.clock.advance(target - ctx.clock.now());
    }
}

async fn history(t: &Setup, id: &str) -> Vec<Value> {
    let page = t.api.get(&format!("/schedules/{id}/runs")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    data(&page)["items"].as_array().unwrap().clone()
}

/// Waits (real time) for the run to end.
async fn run_ended(t: &Setup, run_id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let run = t.run(run_id).await;
        if run["status"] != "running" || std::time::Instant::now() > deadline {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn failures(t: &Setup) -> Vec<Value> {
    notifications::list(&t.server.ctx, t.org_id, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == "schedule.failed")
        .map(|n| n.payload.0)
        .collect()
}

#[tokio::test]
async fn a_due_time_fires_once_and_its_history_links_the_session_and_the_cost() {
    let t = setup().await;
    let s = create(&t, "30 9 * * *", json!({ "timezone": "Asia/Kolkata" })).await;
    let id = s["id"].as_str().unwrap();
    // 09:30 in Kolkata (UTC+05:30) is 04:00 UTC.
    assert_eq!(at(&s["nextRunAt"]).format("%H:%M").to_string(), "04:00");
    assert_eq!(runner::tick(&t.server.ctx).await.unwrap().due, 0, "nothing is due before its time");

    t.fake.push(Scripted::text(&["Digest ", "written."]).usage(1000, 500));
    move_past(&[&t.server.ctx], &s, chrono::Duration::seconds(1));
    let tick = runner::tick(&t.server.ctx).await.unwrap();
    assert_eq!((tick.due, tick.claimed, tick.fired, tick.skipped), (1, 1, 1, 0));
    assert_eq!(runner::tick(&t.server.ctx).await.unwrap().claimed, 0, "a due time fires once");

    let rows = history(&t, id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0]["status"].as_str(), rows[0]["firedBy"].as_str()), (Some("running"), Some("schedule")));
    assert_eq!(rows[0]["scheduledFor"], s["nextRunAt"]);
    let run = run_ended(&t, rows[0]["runId"].as_str().unwrap()).await;
    assert_eq!(run["status"], "completed");
    // The session is the agent's, in the project, opened by the prompt.
    let session = rows[0]["sessionId"].as_str().unwrap();
    let messages = data(&t.api.get(&format!("/sessions/{session}/messages")).await);
    assert_eq!(messages["items"][0]["content"], "Write the digest.");
    assert_eq!(messages["items"][1]["content"], "Digest written.");
    assert_eq!(data(&t.api.get(&format!("/sessions/{session}")).await)["projectId"], t.project.as_str());

    assert_eq!(runner::tick(&t.server.ctx).await.unwrap().settled, 1);
    let done = &history(&t, id).await[0];
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["creditMicrounits"], json!(2_000_000), "the run's cost: 1,000 in and 500 out");
    assert!(done["finishedAt"].is_string());
    let after = data(&t.api.get(&format!("/schedules/{id}")).await);
    assert_eq!(after["lastRun"]["status"], "succeeded");
    assert_eq!(at(&after["nextRunAt"]) - at(&s["nextRunAt"]), chrono::Duration::days(1), "the next one is tomorrow");
    assert!(failures(&t).await.is_empty());
}

#[tokio::test]
async fn racing_runners_fire_each_due_time_once() {
    let t = setup().await;
    // On PostgreSQL, a second server process on the same database races too.
    let other = match postgres_url() {
        Some(_) => {
            let shared = t.server.database_url.clone();
            Some(
                start_with_config(&providers(&t.fake), move |s| {
                    s.database_url = Some(shared);
                    s.schedule_tick_ms = Some(0);
                })
                .await,
            )
        }
        None => None,
    };
    let mut schedules = Vec::new();
    for _ in 0..12 {
        schedules.push(create(&t, "*/5 * * * *", json!({})).await);
    }
    for _ in 0..12 {
        t.fake.push(Scripted::text(&["ok"]));
    }
    let mut ctxs = vec![&t.server.ctx];
    if let Some(other) = &other {
        ctxs.push(&other.ctx);
    }
    move_past(&ctxs, &schedules[0], chrono::Duration::seconds(1));
    let second = other.as_ref().map_or(&t.server.ctx, |o| &o.ctx);
    let (a, b, c) = tokio::join!(runner::tick(&t.server.ctx), runner::tick(second), runner::tick(&t.server.ctx));
    let claimed = a.unwrap().claimed + b.unwrap().claimed + c.unwrap().claimed;
    assert_eq!(claimed, 12, "each due time claimed by one runner");
    for s in &schedules {
        let rows = history(&t, s["id"].as_str().unwrap()).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["scheduledFor"], s["nextRunAt"]);
    }
    let sessions: i64 = app::db::on_db!(&t.server.ctx.db, |p| sqlx::query_scalar("SELECT COUNT(*) FROM chat_sessions")
        .fetch_one(p)
        .await)
    .unwrap();
    assert_eq!(sessions, 12, "one session per due time");
}

#[tokio::test]
async fn a_firing_still_going_skips_the_next_and_one_past_its_limit_is_stalled() {
    let t = setup().await;
    let s = create(&t, "* * * * *", json!({ "maxDurationSeconds": 90 })).await;
    let id = s["id"].as_str().unwrap();
    t.fake.push(Scripted::slow("…", Duration::from_millis(50)));
    move_past(&[&t.server.ctx], &s, chrono::Duration::seconds(1));
    assert_eq!(runner::tick(&t.server.ctx).await.unwrap().fired, 1);
    let first = history(&t, id).await[0].clone();

    // A minute on, the run still streams: that due time is skipped.
    t.server.ctx.clock.advance(chrono::Duration::seconds(60));
    let tick = runner::tick(&t.server.ctx).await.unwrap();
    assert_eq!((tick.claimed, tick.fired, tick.skipped), (1, 0, 1));
    let rows = history(&t, id).await;
    assert_eq!(rows.len(), 2);
    let skipped = rows.iter().find(|r| r["status"] == "skipped").unwrap();
    assert_eq!((skipped["reason"].as_str(), skipped["sessionId"].as_str()), (Some("previous_running"), None));
    // Run now meets the same rule.
    let again = t.api.post(&format!("/schedules/{id}/run"), json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // Past 90 s: the run is stopped and the firing ends stalled.
    t.server.ctx.clock.advance(chrono::Duration::seconds(31));
    let tick = runner::tick(&t.server.ctx).await.unwrap();
    assert!(tick.settled >= 1);
    let stalled = history(&t, id).await.into_iter().find(|r| r["id"] == first["id"]).unwrap();
    assert_eq!((stalled["status"].as_str(), stalled["reason"].as_str()), (Some("failed"), Some("stalled")));
    let run = run_ended(&t, first["runId"].as_str().unwrap()).await;
    assert_eq!(run["status"], "cancelled");
    let notes = failures(&t).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["reason"], "stalled");
    assert_eq!(notes[0]["scheduleId"], s["id"]);
    assert_eq!(notes[0]["sessionId"], first["sessionId"]);
    // Settled once: the run's own end changes nothing more.
    runner::tick(&t.server.ctx).await.unwrap();
    assert_eq!(failures(&t).await.len(), 1);
}

#[tokio::test]
async fn after_downtime_skip_records_the_missed_times_and_run_once_fires_once() {
    let t = setup().await;
    let skip = create(&t, "0 * * * *", json!({})).await;
    let once = create(&t, "0 * * * *", json!({ "missedRuns": "run_once" })).await;
    t.fake.push(Scripted::text(&["caught up"]));
    // Down for three and a half hours past the first due time.
    move_past(&[&t.server.ctx], &skip, chrono::Duration::minutes(210));
    let tick = runner::tick(&t.server.ctx).await.unwrap();
    assert_eq!((tick.claimed, tick.fired), (2, 1));

    let rows = history(&t, skip["id"].as_str().unwrap()).await;
    assert_eq!(rows.len(), 1, "one row for every missed time: {rows:?}");
    assert_eq!((rows[0]["status"].as_str(), rows[0]["reason"].as_str()), (Some("skipped"), Some("missed")));
    assert_eq!(rows[0]["missedCount"], 4);
    assert_eq!(rows[0]["scheduledFor"], skip["nextRunAt"]);

    let rows = history(&t, once["id"].as_str().unwrap()).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let fired = rows.iter().find(|r| r["status"] == "running").unwrap();
    let missed = rows.iter().find(|r| r["status"] == "skipped").unwrap();
    assert_eq!(at(&fired["scheduledFor"]) - at(&once["nextRunAt"]), chrono::Duration::hours(3), "the latest one");
    assert_eq!((missed["missedCount"].clone(), missed["reason"].clone()), (json!(3), json!("missed")));
    for s in [&skip, &once] {
        let now = data(&t.api.get(&format!("/schedules/{}", s["id"].as_str().unwrap())).await);
        assert_eq!(at(&now["nextRunAt"]) - at(&s["nextRunAt"]), chrono::Duration::hours(4), "the next is ahead");
    }
}

#[tokio::test]
async fn a_disabled_schedule_does_not_fire_and_run_now_tries_it_anyway() {
    let t = setup().await;
    let s = create(&t, "@hourly", json!({ "enabled": false })).await;
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["nextRunAt"], Value::Null);
    t.server.ctx.clock.advance(chrono::Duration::hours(2));
    assert_eq!(runner::tick(&t.server.ctx).await.unwrap().due, 0);

    t.fake.push(Scripted::text(&["tried"]));
    let ran = t.api.post(&format!("/schedules/{id}/run"), json!({})).await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    let firing = data(&ran);
    assert_eq!((firing["status"].as_str(), firing["firedBy"].as_str()), (Some("running"), Some("manual")));
    run_ended(&t, firing["runId"].as_str().unwrap()).await;
    runner::tick(&t.server.ctx).await.unwrap();
    assert_eq!(history(&t, id).await[0]["status"], "succeeded");
    assert_eq!(audit_count(&t.server, "schedule.run").await, 1);

    let missing = t.api.post(&format!("/schedules/{}/run", Uuid::new_v4()), json!({})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(t.api.get(&format!("/schedules/{}/runs", Uuid::new_v4())).await.status, StatusCode::NOT_FOUND);
}

/// Every reason a firing fails for reaches the org as `schedule.failed`
/// with a payload that says why.
#[tokio::test]
async fn each_failure_reason_reaches_the_notifications() {
    let mut t = setup().await;
    // A workspace (made in the browser: workspaces are browser-only, with
    // a step-up, and setup moved the clock past the sign-up's).
    assert_eq!(t.browser.step_up().await.status, StatusCode::OK);
    let made =
        t.browser.api(Method::POST, &format!("/api/v1/workspaces?org={}", t.org), json!({ "name": "Scratch" })).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let workspace = data(&made)["id"].as_str().unwrap().to_string();
    let t = t;
    let run_now = |id: String| {
        let api = &t.api;
        async move {
            let ran = api.post(&format!("/schedules/{id}/run"), json!({})).await;
            assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
            data(&ran)
        }
    };
    let last_failure = || async { failures(&t).await.into_iter().next().expect("a schedule.failed notification") };

    // The run itself fails: its stop reason and error.
    let s = create(&t, "@daily", json!({})).await;
    let id = s["id"].as_str().unwrap().to_string();
    t.fake.push(Scripted::error(400, "the prompt was refused"));
    let firing = run_now(id.clone()).await;
    let run = run_ended(&t, firing["runId"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed");
    runner::tick(&t.server.ctx).await.unwrap();
    let n = last_failure().await;
    assert_eq!((n["reason"].as_str(), n["scheduleName"].as_str()), (Some("run_failed"), Some("Digest")));
    assert_eq!(n["stopReason"], run["stopReason"]);
    assert!(n["error"].as_str().unwrap().contains("refused"), "{n}");
    assert_eq!((n["sessionId"].clone(), n["runId"].clone()), (firing["sessionId"].clone(), firing["runId"].clone()));

    // Out of what the package allows: 402 with its billing reason.
    app::domain::billing::plans::set_package(&t.server.ctx, t.org_id, "free").await.unwrap();
    let firing = run_now(id.clone()).await;
    assert_eq!((firing["status"].as_str(), firing["reason"].as_str()), (Some("failed"), Some("payment_required")));
    assert_eq!(firing["sessionId"], Value::Null, "nothing started");
    let n = last_failure().await;
    assert_eq!((n["reason"].as_str(), n["billingReason"].as_str()), (Some("payment_required"), Some("package_blocks")));
    app::domain::billing::plans::set_package(&t.server.ctx, t.org_id, "pro").await.unwrap();

    // The agent disabled, then deleted.
    let agent = format!("/agents/{}", t.agent);
    assert_eq!(t.api.patch(&agent, json!({ "enabled": false })).await.status, StatusCode::OK);
    assert_eq!(run_now(id.clone()).await["reason"], "agent_disabled");
    assert_eq!(last_failure().await["reason"], "agent_disabled");
    assert_eq!(t.api.delete(&agent).await.status, StatusCode::OK);
    // Still firing on its time: the deleted agent is said at each one.
    move_past(&[&t.server.ctx], &s, chrono::Duration::seconds(1));
    assert_eq!(runner::tick(&t.server.ctx).await.unwrap().claimed, 1);
    assert_eq!(history(&t, &id).await[0]["reason"], "agent_deleted");
    assert_eq!(last_failure().await["reason"], "agent_deleted");
    // A schedule whose agent is gone can still be renamed.
    let renamed = t.api.patch(&format!("/schedules/{id}"), json!({ "name": "Old digest" })).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);

    // Its workspace deleted.
    let agent = data(&t.api.post("/agents", json!({ "name": "Second", "model": "fake/big" })).await);
    let with_space = create(&t, "@daily", json!({ "agentId": agent["id"], "workspaceId": workspace })).await;
    // Deleted behind the schedule's back (the API's delete is browser-only too).
    app::db::exec_on_db!(&t.server.ctx.db, |p| sqlx::query("UPDATE workspaces SET deleted_at = $2 WHERE id = $1")
        .bind(workspace.parse::<Uuid>().unwrap())
        .bind(t.server.ctx.clock.now())
        .execute(p)
        .await)
    .unwrap();
    let firing = run_now(with_space["id"].as_str().unwrap().to_string()).await;
    assert_eq!(firing["reason"], "workspace_deleted");
    let n = last_failure().await;
    assert_eq!((n["reason"].as_str(), n["scheduleId"].clone()), (Some("workspace_deleted"), with_space["id"].clone()));
    assert_eq!(failures(&t).await.len(), 5, "one notification per failure");
}

#[tokio::test]
async fn a_firing_claimed_by_a_process_that_died_before_the_run_started_ends_interrupted() {
    let t = setup().await;
    let s = create(&t, "@hourly", json!({})).await;
    let id: Uuid = s["id"].as_str().unwrap().parse().unwrap();
    // What a process leaves when it dies between the claim and the run's
    // start: a firing `running` with no session or run.
    let ctx = &t.server.ctx;
    let (firing, now) = (Uuid::new_v4(), ctx.clock.now());
    app::exec_on_db!(&ctx.db, |p| sqlx::query(
        "INSERT INTO schedule_runs (id, schedule_id, org_id, scheduled_for, started_at, status, created_at) \
         VALUES ($1, $2, $3, $4, $4, 'running', $4)"
    )
    .bind(firing)
    .bind(id)
    .bind(t.org_id)
    .bind(now)
    .execute(p)
    .await)
    .unwrap();
    // Another process may still be starting it: left alone for a while.
    ctx.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(runner::tick(ctx).await.unwrap().settled, 0);
    assert_eq!(history(&t, &id.to_string()).await[0]["status"], "running");
    // A run now meanwhile is refused: one firing at a time.
    assert_eq!(t.api.post(&format!("/schedules/{id}/run"), json!({})).await.status, StatusCode::CONFLICT);

    ctx.clock.advance(chrono::Duration::minutes(3));
    assert_eq!(runner::tick(ctx).await.unwrap().settled, 1);
    let row = &history(&t, &id.to_string()).await[0];
    assert_eq!((row["status"].as_str(), row["reason"].as_str()), (Some("failed"), Some("interrupted")), "{row}");
    let n = failures(&t).await.into_iter().next().expect("a schedule.failed notification");
    assert_eq!(
        (n["reason"].as_str(), n["scheduleRunId"].as_str()),
        (Some("interrupted"), Some(firing.to_string().as_str()))
    );
}

#[tokio::test]
async fn the_list_shows_each_schedules_own_latest_firing() {
    let t = setup().await;
    let (a, b) =
        (create(&t, "@daily", json!({ "name": "A" })).await, create(&t, "@daily", json!({ "name": "B" })).await);
    let a_id = a["id"].as_str().unwrap().to_string();
    let fire_a = || async {
        t.fake.push(Scripted::text(&["Done."]));
        let ran = t.api.post(&format!("/schedules/{a_id}/run"), json!({})).await;
        assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
        let firing = data(&ran);
        run_ended(&t, firing["runId"].as_str().unwrap()).await;
        runner::tick(&t.server.ctx).await.unwrap();
        firing["id"].clone()
    };
    let last_runs = || async {
        let page = data(&t.api.get("/schedules").await);
        let of = |s: &Value| page["items"].as_array().unwrap().iter().find(|i| i["id"] == s["id"]).unwrap().clone();
        (of(&a)["lastRun"].clone(), of(&b)["lastRun"].clone())
    };
    let first = fire_a().await;
    let (last_a, last_b) = last_runs().await;
    assert_eq!((last_a["id"].clone(), last_a["status"].as_str()), (first, Some("succeeded")));
    assert_eq!(last_b, Value::Null, "B never fired");
    let second = fire_a().await;
    assert_eq!(last_runs().await.0["id"], second, "the newer firing");
}

/// A tick's batch reads what its runs share once; each firing still gets
/// its own session and its own outcome.
#[tokio::test]
async fn a_batch_due_at_once_starts_each_its_own_session_and_refuses_only_the_broken_one() {
    let t = setup().await;
    let (a, b) =
        (create(&t, "0 9 * * *", json!({ "name": "A" })).await, create(&t, "0 9 * * *", json!({ "name": "B" })).await);
    let project = data(&t.api.post("/projects", json!({ "name": "Gone soon" })).await);
    let broken = create(&t, "0 9 * * *", json!({ "name": "Broken", "projectId": project["id"] })).await;
    assert_eq!(t.api.delete(&format!("/projects/{}", project["id"].as_str().unwrap())).await.status, StatusCode::OK);
    t.fake.push(Scripted::text(&["A done."]));
    t.fake.push(Scripted::text(&["B done."]));
    move_past(&[&t.server.ctx], &a, chrono::Duration::seconds(1));
    let tick = runner::tick(&t.server.ctx).await.unwrap();
    assert_eq!((tick.due, tick.claimed, tick.fired), (3, 3, 3));

    let (ha, hb) = (history(&t, a["id"].as_str().unwrap()).await, history(&t, b["id"].as_str().unwrap()).await);
    assert_ne!(ha[0]["sessionId"], hb[0]["sessionId"], "a session each");
    for (row, schedule) in [(&ha[0], &a), (&hb[0], &b)] {
        assert_eq!(row["status"], "running", "{row}");
        assert_eq!(run_ended(&t, row["runId"].as_str().unwrap()).await["status"], "completed");
        let session = data(&t.api.get(&format!("/sessions/{}", row["sessionId"].as_str().unwrap())).await);
        assert!(session["title"].as_str().unwrap().starts_with(schedule["name"].as_str().unwrap()), "{session}");
        assert_eq!(session["agentId"], t.agent.as_str());
    }
    let hx = history(&t, broken["id"].as_str().unwrap()).await;
    assert_eq!((hx[0]["status"].as_str(), hx[0]["reason"].as_str()), (Some("failed"), Some("project_deleted")));
    assert_eq!(hx[0]["sessionId"], Value::Null, "nothing started for it");
    let reasons: Vec<Value> = failures(&t).await.into_iter().map(|n| n["reason"].clone()).collect();
    assert_eq!(reasons, vec![json!("project_deleted")]);

    runner::tick(&t.server.ctx).await.unwrap();
    for s in [&a, &b] {
        assert_eq!(history(&t, s["id"].as_str().unwrap()).await[0]["status"], "succeeded");
    }
}
