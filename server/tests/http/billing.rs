//! Credits: deposits once per source, debits once per usage id, grant
//! first, never below zero, balances that the ledger explains.

use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use app::domain::billing::metering::{self, Source, Usage};
use app::domain::billing::{self, grants, Deposit, DepositKind, MICROS_PER_CREDIT};

use crate::support::*;

async fn org_id(server: &TestServer, slug: &str) -> Uuid {
    app::domain::orgs::find_by_slug(&server.ctx, slug).await.unwrap().expect("the org exists")
}

fn deposit(org_id: Uuid, kind: DepositKind, source: &str, credits: i64) -> Deposit<'_> {
    let expires_at = None;
    Deposit {
        org_id,
        kind,
        source_ref: source,
        micros: credits * MICROS_PER_CREDIT,
        expires_at,
        actor_user_id: None,
        reason: None,
    }
}

#[tokio::test]
async fn usage_draws_the_grant_first_then_purchases_oldest_first_and_never_below_zero() {
    let server = start().await;
    let (mut owner, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let ctx = &server.ctx;
    assert!(billing::deposit(ctx, deposit(org, DepositKind::Purchase, "pi_first", 5)).await.unwrap());
    server.ctx.clock.advance(Duration::seconds(1));
    assert!(billing::deposit(ctx, deposit(org, DepositKind::Purchase, "pi_second", 5)).await.unwrap());
    let grant = Deposit {
        expires_at: Some(ctx.clock.now() + Duration::days(30)),
        ..deposit(org, DepositKind::Grant, "2026-11", 3)
    };
    assert!(billing::deposit(ctx, grant).await.unwrap());
    assert!(
        !billing::deposit(ctx, deposit(org, DepositKind::Purchase, "pi_first", 5)).await.unwrap(),
        "a source credits once"
    );

    let api = Api::new(&server, Some(&key));
    let before = data(&api.get("/billing").await);
    assert_eq!(before["balance"]["creditMicrounits"], 13 * MICROS_PER_CREDIT);
    assert_eq!(before["balance"]["credits"], "13");
    assert_eq!(before["buckets"][0]["kind"], "grant");

    // 4.5 credits: the 3 of the grant, then 1.5 of the oldest purchase.
    billing::debit(ctx, org, "usage-1", 4_500_000).await.unwrap();
    let after = data(&api.get("/billing").await);
    assert_eq!(after["balance"]["credits"], "8.5");
    let buckets = after["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2, "the empty grant is not listed: {after}");
    assert_eq!(buckets[0]["balance"]["credits"], "3.5");
    assert_eq!(buckets[1]["balance"]["credits"], "5");

    // The same usage id again: charged once. Another amount: a conflict.
    billing::debit(ctx, org, "usage-1", 4_500_000).await.unwrap();
    assert_eq!(data(&api.get("/billing").await)["balance"]["credits"], "8.5");
    let conflict = billing::debit(ctx, org, "usage-1", 1).await.unwrap_err();
    assert_eq!(conflict.code, app::model::ErrorCode::Conflict);

    // More than is left: refused whole, nothing taken.
    let refused = billing::debit(ctx, org, "usage-2", 9 * MICROS_PER_CREDIT).await.unwrap_err();
    assert_eq!(refused.code, app::model::ErrorCode::PaymentRequired);
    assert_eq!(refused.details.unwrap()["reason"], "no_credits");
    assert_eq!(data(&api.get("/billing").await)["balance"]["credits"], "8.5");
    assert_eq!(overview_credits(&mut owner, &slug).await, "8.5", "the overview shows the same balance");
    assert!(billing::verify(ctx).await.unwrap().is_empty());
}

/// The balance the org's overview page shows, as its browser reads it.
async fn overview_credits(owner: &mut Browser, slug: &str) -> String {
    let overview = owner.call("get_org_overview", &[("org", slug)]).await;
    assert_eq!(overview.status, reqwest::StatusCode::OK, "{}", overview.body);
    overview.json()["balance"]["credits"].as_str().expect("the balance's credits").to_string()
}

#[tokio::test]
async fn an_expired_grant_is_not_spent() {
    let server = start().await;
    let (mut owner, slug, _) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let ctx = &server.ctx;
    let grant = Deposit {
        expires_at: Some(ctx.clock.now() + Duration::days(1)),
        ..deposit(org, DepositKind::Grant, "2026-10", 3)
    };
    billing::deposit(ctx, grant).await.unwrap();
    server.ctx.clock.advance(Duration::days(2));
    let refused = billing::debit(ctx, org, "late", 1).await.unwrap_err();
    assert_eq!(refused.code, app::model::ErrorCode::PaymentRequired);
    assert_eq!(billing::summary(ctx, org).await.unwrap().balance.credit_microunits, 0);
    assert_eq!(overview_credits(&mut owner, &slug).await, "0", "the overview counts no expired credits");
}

#[tokio::test]
async fn a_thousand_concurrent_debits_spend_exactly_the_balance() {
    let server = start().await;
    let (_, slug, _) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    billing::deposit(&server.ctx, deposit(org, DepositKind::Purchase, "pi_a", 300)).await.unwrap();
    billing::deposit(&server.ctx, deposit(org, DepositKind::Purchase, "pi_b", 200)).await.unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let ctx = server.ctx.clone();
            tokio::spawn(async move { billing::debit(&ctx, org, &format!("u-{i}"), MICROS_PER_CREDIT).await })
        })
        .collect();
    let (mut charged, mut refused) = (0, Vec::new());
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => charged += 1,
            Err(e) if e.code == app::model::ErrorCode::PaymentRequired => refused.push(i),
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!((charged, refused.len()), (500, 500));
    assert_eq!(billing::summary(&server.ctx, org).await.unwrap().balance.credit_microunits, 0);
    let exhausted = notifications(&server, org).await.into_iter().filter(|(k, _)| k == "credits.exhausted").count();
    assert_eq!(exhausted, 1, "the org is told once that its credits ran out");
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty(), "every balance is explained by the ledger");

    // A refused usage id left nothing behind: once there are credits, the
    // same id is charged.
    billing::deposit(&server.ctx, deposit(org, DepositKind::Purchase, "pi_c", 1)).await.unwrap();
    billing::debit(&server.ctx, org, &format!("u-{}", refused[0]), MICROS_PER_CREDIT).await.unwrap();
    assert_eq!(billing::summary(&server.ctx, org).await.unwrap().balance.credit_microunits, 0);
}

#[tokio::test]
async fn a_charge_that_fails_does_not_fail_the_charges_written_with_it() {
    let server = start().await;
    let (_, slug, _) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    billing::deposit(&server.ctx, deposit(org, DepositKind::Purchase, "pi_a", 100)).await.unwrap();
    // Charges arriving together, one of them for an org that does not
    // exist (the database refuses its row).
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let ctx = server.ctx.clone();
            let whose = if i == 20 { Uuid::new_v4() } else { org };
            tokio::spawn(async move { billing::debit(&ctx, whose, &format!("t-{i}"), MICROS_PER_CREDIT).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        assert_eq!(answer.is_err(), i == 20, "charge {i}: {answer:?}");
    }
    assert_eq!(billing::summary(&server.ctx, org).await.unwrap().balance.credits, "61");
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_ledger_explains_every_change_page_by_page() {
    let server = start().await;
    let (mut browser, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let ctx = &server.ctx;
    billing::deposit(ctx, deposit(org, DepositKind::Purchase, "pi_ledger", 10)).await.unwrap();
    for i in 0..3 {
        server.ctx.clock.advance(Duration::seconds(1));
        billing::debit(ctx, org, &format!("run-{i}"), 2 * MICROS_PER_CREDIT).await.unwrap();
    }
    let api = Api::new(&server, Some(&key));
    let first = data(&api.get("/billing/ledger?limit=2").await);
    assert_eq!(first["items"][0]["reference"], "run-2", "newest first");
    assert_eq!(first["items"][0]["amount"]["credits"], "-2");
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = data(&api.get(&format!("/billing/ledger?limit=2&cursor={cursor}")).await);
    let kinds: Vec<&str> = second["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["usage", "top_up"]);
    assert_eq!(second["hasMore"], false);

    // The dashboard's page: balance, 30 days of usage, recent entries.
    let page = browser.call("get_billing_page", &[("org", &slug)]).await.json();
    assert_eq!(page["summary"]["balance"]["credits"], "4");
    let usage = page["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 30);
    assert_eq!(usage[29]["used"]["credits"], "6", "today's usage is the last day");
    assert_eq!(page["recent"].as_array().unwrap().len(), 4);
    assert!(page["payments"].is_null(), "Stripe is not configured: {page}");
}

fn usage(org_id: Uuid, agent_id: Option<Uuid>, source: Source, credits: i64) -> Usage {
    Usage { org_id, agent_id, source, micros: credits * MICROS_PER_CREDIT }
}

fn reason(err: app::model::AppError) -> String {
    assert_eq!(err.code, app::model::ErrorCode::PaymentRequired, "{err:?}");
    err.details.unwrap()["reason"].as_str().unwrap().to_string()
}

async fn notifications(server: &TestServer, org: Uuid) -> Vec<(String, serde_json::Value)> {
    let list = app::domain::notifications::list(&server.ctx, org, 100).await.unwrap();
    list.into_iter().map(|n| (n.kind, n.payload.0)).collect()
}

#[tokio::test]
async fn metered_work_is_refused_with_the_reason_that_blocks_it() {
    let server = start().await;
    let (mut browser, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let ctx = &server.ctx;
    let agent = Uuid::new_v4();

    // BYOK costs nothing, so it runs without credits; the Free package has
    // no managed models; other work needs credits.
    metering::authorize(ctx, &usage(org, Some(agent), Source::Byok, 5)).await.unwrap();
    metering::charge(ctx, "byok-1", &usage(org, Some(agent), Source::Byok, 5)).await.unwrap();
    let managed = metering::authorize(ctx, &usage(org, None, Source::Managed, 1)).await.unwrap_err();
    assert_eq!(reason(managed), "package_blocks");
    let managed = metering::charge(ctx, "m-1", &usage(org, None, Source::Managed, 1)).await.unwrap_err();
    assert_eq!(reason(managed), "package_blocks");
    assert_eq!(
        reason(metering::authorize(ctx, &usage(org, None, Source::Platform, 1)).await.unwrap_err()),
        "no_credits"
    );
    let cap = metering::require_within_cap(ctx, org, metering::Cap::Agents, 1).await.unwrap_err();
    assert_eq!(reason(cap), "package_blocks");
    metering::require_within_cap(ctx, org, metering::Cap::Agents, 0).await.unwrap();

    // 100 credits; the org may spend 10 a month, this agent 4.
    billing::deposit(ctx, deposit(org, DepositKind::Purchase, "pi_budget", 100)).await.unwrap();
    let set = |agent: Option<Uuid>, credits: &str| {
        let body = json!({ "agentId": agent, "monthlyCredits": credits });
        (body, credits.to_string())
    };
    for (body, _) in [set(None, "10"), set(Some(agent), "4")] {
        let answer = browser.api(reqwest::Method::PUT, "/api/v1/billing/budgets", body).await;
        assert_eq!(answer.status, reqwest::StatusCode::OK, "{}", answer.body);
    }
    metering::charge(ctx, "a-1", &usage(org, Some(agent), Source::Platform, 3)).await.unwrap();
    let over_agent = metering::charge(ctx, "a-2", &usage(org, Some(agent), Source::Platform, 2)).await.unwrap_err();
    assert_eq!(reason(over_agent), "budget_exhausted");
    metering::charge(ctx, "o-1", &usage(org, None, Source::Platform, 5)).await.unwrap();
    assert_eq!(
        reason(metering::authorize(ctx, &usage(org, None, Source::Platform, 3)).await.unwrap_err()),
        "budget_exhausted"
    );
    let over_org = metering::charge(ctx, "o-2", &usage(org, None, Source::Platform, 3)).await.unwrap_err();
    assert_eq!(reason(over_org), "budget_exhausted");
    metering::charge(ctx, "o-3", &usage(org, None, Source::Platform, 2)).await.unwrap();
    // BYOK still runs with the budget spent: it costs nothing.
    metering::charge(ctx, "byok-2", &usage(org, Some(agent), Source::Byok, 50)).await.unwrap();
    assert_eq!(billing::summary(ctx, org).await.unwrap().balance.credits, "90");

    // Alerts: 50, 80 and 100 % of the org's budget, and 50 % of the
    // agent's, once each.
    let mut alerts: Vec<(String, i64)> = notifications(&server, org)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "budget.threshold")
        .map(|(_, p)| (p["scope"].as_str().unwrap().to_string(), p["threshold"].as_i64().unwrap()))
        .collect();
    alerts.sort();
    let agent_scope = agent.to_string();
    let mut expected =
        vec![("org".to_string(), 50), ("org".to_string(), 80), ("org".to_string(), 100), (agent_scope.clone(), 50)];
    expected.sort();
    assert_eq!(alerts, expected);
    let view = data(&Api::new(&server, Some(&key)).get("/billing").await);
    assert_eq!(view["budgets"][0]["agentId"], serde_json::Value::Null);
    assert_eq!(view["budgets"][0]["spent"]["credits"], "10");
    assert_eq!(view["budgets"][0]["alerted"], json!([50, 80, 100]));
    assert_eq!(view["budgets"][1]["agentId"], agent_scope.as_str());
    assert_eq!(view["budgets"][1]["spent"]["credits"], "3");
    assert!(billing::verify(ctx).await.unwrap().is_empty());

    // A new period: budgets start again.
    server.ctx.clock.advance(Duration::days(32));
    metering::charge(ctx, "next-month", &usage(org, Some(agent), Source::Platform, 4)).await.unwrap();
}

#[tokio::test]
async fn spending_before_a_budget_is_set_counts_against_it() {
    let server = start().await;
    let (mut browser, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    let ctx = &server.ctx;
    let agent = Uuid::new_v4();
    billing::deposit(ctx, deposit(org, DepositKind::Purchase, "pi_early", 100)).await.unwrap();
    // Spent with no budget: 6 by the agent, 1 by the org itself.
    metering::charge(ctx, "early-agent", &usage(org, Some(agent), Source::Platform, 6)).await.unwrap();
    metering::charge(ctx, "early-org", &usage(org, None, Source::Platform, 1)).await.unwrap();

    for body in [json!({ "monthlyCredits": "10" }), json!({ "agentId": agent, "monthlyCredits": "8" })] {
        let answer = browser.api(reqwest::Method::PUT, "/api/v1/billing/budgets", body).await;
        assert_eq!(answer.status, reqwest::StatusCode::OK, "{}", answer.body);
    }
    let view = data(&Api::new(&server, Some(&key)).get("/billing").await);
    assert_eq!(view["budgets"][0]["spent"]["credits"], "7");
    assert_eq!(view["budgets"][1]["spent"]["credits"], "6");

    // 3 more reach the org's 10; the 80 and 100 % alerts follow (50 % was
    // passed before there was a budget).
    let over_agent =
        metering::charge(ctx, "late-agent", &usage(org, Some(agent), Source::Platform, 3)).await.unwrap_err();
    assert_eq!(reason(over_agent), "budget_exhausted");
    metering::charge(ctx, "late-org", &usage(org, None, Source::Platform, 3)).await.unwrap();
    let over_org = metering::charge(ctx, "later-org", &usage(org, None, Source::Platform, 1)).await.unwrap_err();
    assert_eq!(reason(over_org), "budget_exhausted");
    let mut alerts: Vec<i64> = notifications(&server, org)
        .await
        .into_iter()
        .filter(|(kind, p)| kind == "budget.threshold" && p["scope"] == "org")
        .map(|(_, p)| p["threshold"].as_i64().unwrap())
        .collect();
    alerts.sort();
    assert_eq!(alerts, vec![80, 100]);
    let view = data(&Api::new(&server, Some(&key)).get("/billing").await);
    assert_eq!(view["budgets"][0]["spent"]["credits"], "10");
    assert_eq!(billing::summary(ctx, org).await.unwrap().balance.credits, "90");
    assert!(billing::verify(ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn budgets_change_only_in_a_stepped_up_browser_of_an_admin() {
    let server = start().await;
    let (mut browser, slug, key) = owner_with_key(&server, &[]).await;
    let api = Api::new(&server, Some(&key));
    let body = json!({ "monthlyCredits": "25" });
    let by_key = api.send(reqwest::Method::PUT, "/billing/budgets", Some(body.clone())).await;
    assert_eq!(by_key.status, reqwest::StatusCode::FORBIDDEN);
    assert!(by_key.body.contains("browser session"), "{}", by_key.body);

    let bad = browser.api(reqwest::Method::PUT, "/api/v1/billing/budgets", json!({ "monthlyCredits": "ten" })).await;
    assert_eq!(bad.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["details"]["field"], "monthlyCredits");

    // The dashboard's form; then the step-up goes stale.
    let saved = browser.call("set_budget", &[("org", &slug), ("monthly_credits", "25")]).await;
    assert_eq!(saved.status, reqwest::StatusCode::OK, "{}", saved.body);
    assert_eq!(data(&api.get("/billing").await)["budgets"][0]["monthlyLimit"]["credits"], "25");
    assert_eq!(audit_count(&server, "billing.budget_set").await, 1);
    server.ctx.clock.advance(Duration::minutes(11));
    let stale = browser.call("set_budget", &[("org", &slug), ("monthly_credits", "")]).await;
    assert_eq!(stale.status, reqwest::StatusCode::FORBIDDEN);
    assert_eq!(stale.json()["details"]["stepUp"], "required");
    browser.step_up().await;
    let removed = browser.call("set_budget", &[("org", &slug), ("monthly_credits", "")]).await;
    assert_eq!(removed.status, reqwest::StatusCode::OK, "{}", removed.body);
    assert_eq!(data(&api.get("/billing").await)["budgets"], json!([]));

    // A member may look but not change.
    let invite = browser.call("create_invite", &[("org", &slug), ("role", "member")]).await.json();
    let token = invite["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let mut member = Browser::new(&server);
    member.sign_up(&email("member")).await;
    assert_eq!(member.call("accept_invite", &[("token", &token)]).await.status, reqwest::StatusCode::OK);
    let refused = member.call("set_budget", &[("org", &slug), ("monthly_credits", "1")]).await;
    assert_eq!(refused.status, reqwest::StatusCode::FORBIDDEN);
    let page = member.call("get_billing_page", &[("org", &slug)]).await.json();
    assert_eq!(page["mayManage"], false);
}

async fn set_package(server: &TestServer, org: Uuid, package: &str) {
    app::exec_on_db!(&server.ctx.db, |p| sqlx::query("UPDATE orgs SET package_id = $2 WHERE id = $1")
        .bind(org)
        .bind(package)
        .execute(p)
        .await)
    .unwrap();
    // Written behind the domain's back: drop what it cached.
    app::domain::billing::plans::forget_package(&server.ctx, Some(org));
}

async fn grant_buckets(server: &TestServer, org: Uuid) -> Vec<(String, i64)> {
    app::on_db!(&server.ctx.db, |p| sqlx::query_as(
        "SELECT source_ref, balance FROM credit_buckets WHERE org_id = $1 AND kind = 'grant' ORDER BY source_ref"
    )
    .bind(org)
    .fetch_all(p)
    .await)
    .unwrap()
}

#[tokio::test]
async fn the_monthly_grant_is_issued_once_per_period_and_its_remainder_expires() {
    let server = start().await;
    let (_, slug, _) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    set_package(&server, org, "pro").await;
    let ctx = &server.ctx;

    // Two workers racing (and two bare passes without the lease): one grant.
    let (a, b, c, d) = tokio::join!(
        grants::run(ctx, "worker-a"),
        grants::run(ctx, "worker-b"),
        grants::grant_period(ctx),
        grants::grant_period(ctx),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.ran || b.ran);
    assert_eq!(a.granted + b.granted + c.unwrap() + d.unwrap(), 1, "{a:?} {b:?}");
    let period = app::domain::billing::plans::Period::containing(ctx.clock.now());
    assert_eq!(grant_buckets(&server, org).await, [(period.id(), 2000 * MICROS_PER_CREDIT)]);
    assert_eq!(grants::run(ctx, "worker-a").await.unwrap().granted, 0, "once per period");

    // 1,500 of it spent; at the period's end the other 500 expire and the
    // next period's grant arrives.
    billing::debit(ctx, org, "work", 1500 * MICROS_PER_CREDIT).await.unwrap();
    server.ctx.clock.advance(period.ends_at - ctx.clock.now() + Duration::seconds(1));
    let next = grants::run(ctx, "worker-b").await.unwrap();
    assert_eq!((next.expired, next.granted), (1, 1));
    let next_period = app::domain::billing::plans::Period::containing(ctx.clock.now());
    assert_eq!(grant_buckets(&server, org).await, [(period.id(), 0), (next_period.id(), 2000 * MICROS_PER_CREDIT)]);
    let expiry: i64 = app::on_db!(&ctx.db, |p| sqlx::query_scalar(
        "SELECT amount FROM ledger_entries WHERE org_id = $1 AND kind = 'expiry'"
    )
    .bind(org)
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(expiry, -500 * MICROS_PER_CREDIT);
    assert_eq!(grants::run(ctx, "worker-a").await.unwrap(), grants::GrantRun { ran: true, granted: 0, expired: 0 });
    assert!(billing::verify(ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_new_org_gets_its_packages_grant_at_once() {
    // The built-in catalogue: Personal grants 100 credits a month.
    let server = start_with(|s| s.config = None).await;
    let (_, _, key) = owner_with_key(&server, &[]).await;
    let view = data(&Api::new(&server, Some(&key)).get("/billing").await);
    assert_eq!(view["package"]["name"], "Personal");
    assert_eq!(view["balance"]["credits"], "100");
    assert_eq!(view["buckets"][0]["kind"], "grant");
    assert_eq!(view["period"]["id"], server.ctx.clock.now().format("%Y-%m").to_string());
}

#[tokio::test]
async fn with_billing_disabled_nothing_is_metered() {
    let server = start_with(|s| s.billing = Some("disabled".into())).await;
    let (_, slug, key) = owner_with_key(&server, &[]).await;
    let org = org_id(&server, &slug).await;
    metering::charge(&server.ctx, "free-lunch", &usage(org, None, Source::Managed, 1000)).await.unwrap();
    metering::require_within_cap(&server.ctx, org, metering::Cap::Agents, 1_000).await.unwrap();
    let api = Api::new(&server, Some(&key));
    let view = data(&api.get("/billing").await);
    assert_eq!(view["metered"], false);
    assert_eq!(view["balance"]["credits"], "0");
    let top_up =
        api.post("/billing/top-ups/payment-intent", json!({ "amountCents": 500, "idempotencyKey": "k" })).await;
    assert_eq!(top_up.status, reqwest::StatusCode::SERVICE_UNAVAILABLE);
}
