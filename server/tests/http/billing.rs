//! Credits: deposits once per source, debits once per usage id, grant
//! first, never below zero, balances that the ledger explains.

use chrono::Duration;
use uuid::Uuid;

use app::domain::billing::{self, Deposit, DepositKind, MICROS_PER_CREDIT};

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
    let (_, slug, key) = owner_with_key(&server, &[]).await;
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
    assert!(billing::verify(ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_expired_grant_is_not_spent() {
    let server = start().await;
    let (_, slug, _) = owner_with_key(&server, &[]).await;
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
    let (mut charged, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => charged += 1,
            Err(e) if e.code == app::model::ErrorCode::PaymentRequired => refused += 1,
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!((charged, refused), (500, 500));
    assert_eq!(billing::summary(&server.ctx, org).await.unwrap().balance.credit_microunits, 0);
    assert!(billing::verify(&server.ctx).await.unwrap().is_empty(), "every balance is explained by the ledger");
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
    assert_eq!(page["paymentsConfigured"], false);
}
