//! Metering: the one API every metered capability calls. `authorize`
//! checks an estimate before the work starts; `charge` records the real
//! amount once per usage id, atomically:
//! - the package must allow the kind of work (`package_blocks`),
//! - the org's budget and the agent's must have room (`budget_exhausted`),
//! - the credits must cover it (`no_credits`): grant first, then
//!   purchases oldest first, never below zero.
//!
//! Blocked work answers 402 `PAYMENT_REQUIRED` with `details.reason`.
//! BYOK model calls cost 0 credits but still need a package that allows
//! them. With billing disabled (`ALUMIA_BILLING=disabled`) nothing is
//! checked or recorded.
//!
//! Charges of one org queue on the org row on PostgreSQL; on SQLite the
//! charges waiting at the same moment are written in turn in one
//! transaction (`ChargeQueue`). Either way each sees the one before.

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::budgets::{self, ORG_SCOPE};
use super::plans::{Package, Period};
use super::{credits, plans};
use crate::db::{on_db, Db};
use crate::domain::notifications::{self, notify_in_tx};
use crate::domain::{metrics, validate, Ctx, DomainResult};
use crate::model::{AppError, ErrorCode};

/// What kind of work is metered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Model tokens on Alumia's own provider keys: paid in credits.
    Managed,
    /// Model tokens on the org's own provider key: 0 credits.
    Byok,
    /// Other metered platform work: paid in credits.
    Platform,
}

/// A metered use of the platform.
#[derive(Clone, Debug)]
pub struct Usage {
    pub org_id: Uuid,
    /// The agent doing the work, for its budget.
    pub agent_id: Option<Uuid>,
    pub source: Source,
    /// The price in micro-units (an estimate for `authorize`).
    pub micros: i64,
}

impl Source {
    /// The `source` label of the charge metrics.
    pub fn label(self) -> &'static str {
        match self {
            Source::Managed => "managed",
            Source::Byok => "byok",
            Source::Platform => "platform",
        }
    }
}

impl Usage {
    /// What it costs in credits.
    fn cost(&self) -> i64 {
        if self.source == Source::Byok {
            0
        } else {
            self.micros
        }
    }
}

/// Why metered work was refused: 402 with `details.reason`.
pub fn blocked(reason: &str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::PaymentRequired, message).with_details(json!({ "reason": reason }))
}

pub fn no_credits() -> AppError {
    blocked("no_credits", "Not enough credits: buy credits or wait for the next monthly grant")
}

fn check_package(package: &Package, source: Source) -> DomainResult<()> {
    let allowed = match source {
        Source::Managed => package.managed_models,
        Source::Byok => package.byok,
        Source::Platform => true,
    };
    if allowed {
        Ok(())
    } else {
        let what = if source == Source::Byok { "your own model keys" } else { "managed models" };
        Err(blocked("package_blocks", format!("The {} package does not include {what}", package.name)))
    }
}

/// A package cap on a resource count (agents, schedules…).
#[derive(Clone, Copy, Debug)]
pub enum Cap {
    Agents,
    Schedules,
    StorageMb,
}

/// Refuses (402 `package_blocks`) adding one more when the org already
/// has `current` and its package caps it there. BYOK orgs are capped too.
pub async fn require_within_cap(ctx: &Ctx, org_id: Uuid, cap: Cap, current: i64) -> DomainResult<()> {
    if !ctx.billing.metered {
        return Ok(());
    }
    let package = plans::package_of(ctx, org_id).await?;
    let (limit, what) = match cap {
        Cap::Agents => (package.max_agents, "agents"),
        Cap::Schedules => (package.max_schedules, "schedules"),
        Cap::StorageMb => (package.max_storage_mb, "MB of storage"),
    };
    match limit {
        Some(limit) if current >= limit => Err(blocked(
            "package_blocks",
            format!("The {} package allows {limit} {what}; change the package for more", package.name),
        )),
        _ => Ok(()),
    }
}

/// Room left in a budget, if there is one: (limit, spent).
type BudgetState = Option<(i64, i64)>;

fn check_budget(state: BudgetState, cost: i64, whose: &str) -> DomainResult<()> {
    match state {
        Some((limit, spent)) if cost > 0 && spent + cost > limit => Err(blocked(
            "budget_exhausted",
            format!("{whose} monthly budget is used up; raise it on the billing page or wait for the next period"),
        )),
        _ => Ok(()),
    }
}

/// The org's budget and the agent's (when `$agent_scope` is some):
/// their limits and what was spent in `$period`, in one query on `$conn`.
macro_rules! budget_states {
    ($conn:expr, $org_id:expr, $agent_scope:expr, $period:expr) => {{
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT b.scope, b.monthly_limit, s.spent FROM budgets b LEFT JOIN budget_spend s \
             ON s.org_id = b.org_id AND s.scope = b.scope AND s.period = $3 \
             WHERE b.org_id = $1 AND (b.scope = 'org' OR b.scope = $2)",
        )
        .bind($org_id)
        .bind($agent_scope)
        .bind($period)
        .fetch_all(&mut *$conn)
        .await?;
        Budgets::from_rows(rows)
    }};
}

/// Room left in the budgets that apply to a use.
#[derive(Default)]
struct Budgets {
    org: BudgetState,
    agent: BudgetState,
}

impl Budgets {
    fn from_rows(rows: Vec<(String, i64, Option<i64>)>) -> Budgets {
        let mut budgets = Budgets::default();
        for (scope, limit, spent) in rows {
            let state = Some((limit, spent.unwrap_or(0)));
            if scope == ORG_SCOPE {
                budgets.org = state;
            } else {
                budgets.agent = state;
            }
        }
        budgets
    }

    fn check(&self, cost: i64) -> DomainResult<()> {
        check_budget(self.org, cost, "The org's")?;
        check_budget(self.agent, cost, "This agent's")
    }
}

/// Whether `usage` (an estimate) could run now. Nothing is recorded.
pub async fn authorize(ctx: &Ctx, usage: &Usage) -> DomainResult<()> {
    allowance(ctx, usage.org_id, usage.agent_id, usage.source, usage.cost() > 0).await?.check(usage.micros)
}

/// What an org's agent may spend now: its package, budgets and balance,
/// read once and checked against several estimates (a batch of scheduled
/// runs of one agent). Nothing is reserved: as `authorize`, each check
/// answers whether that one use could run now.
pub struct Allowance {
    source: Source,
    /// `None`: nothing to read (not metered, or the use costs nothing).
    room: Option<(Budgets, i64)>,
}

impl Allowance {
    /// `authorize`'s answer for an estimate of `micros`.
    pub fn check(&self, micros: i64) -> DomainResult<()> {
        let cost = Usage { org_id: Uuid::nil(), agent_id: None, source: self.source, micros }.cost();
        let Some((budgets, balance)) = &self.room else { return Ok(()) };
        if cost == 0 {
            return Ok(());
        }
        budgets.check(cost)?;
        if *balance < cost {
            return Err(no_credits());
        }
        Ok(())
    }
}

/// Reads the allowance of `agent_id` in the org. A package that does not
/// cover `source` is its 402 at once. `spends`: whether the uses to check
/// can cost anything (else the budgets and balance are not read).
pub async fn allowance(
    ctx: &Ctx,
    org_id: Uuid,
    agent_id: Option<Uuid>,
    source: Source,
    spends: bool,
) -> DomainResult<Allowance> {
    if !ctx.billing.metered {
        return Ok(Allowance { source, room: None });
    }
    check_package(&plans::package_of(ctx, org_id).await?, source)?;
    if !spends || source == Source::Byok {
        return Ok(Allowance { source, room: None });
    }
    let period = Period::containing(ctx.clock.now()).id();
    let now = ctx.clock.now();
    let agent_scope = agent_id.map(|id| id.to_string());
    let room: (Budgets, i64) = on_db!(&ctx.db, |p| async {
        let mut conn = p.acquire().await?;
        let budgets = budget_states!(conn, org_id, &agent_scope, &period);
        let balance: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(balance) AS BIGINT) FROM credit_buckets \
             WHERE org_id = $1 AND balance > 0 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(org_id)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        Ok::<_, sqlx::Error>((budgets, balance.unwrap_or(0)))
    }
    .await)?;
    Ok(Allowance { source, room: Some(room) })
}

#[derive(sqlx::FromRow)]
struct Spendable {
    id: Uuid,
    balance: i64,
}

/// What recording a new usage id answers about its org.
#[derive(sqlx::FromRow)]
struct OrgMeter {
    package_id: Option<String>,
    has_budgets: bool,
}

/// One charge to record, with the time it was asked for.
pub(crate) struct Pending {
    usage_id: String,
    usage: Usage,
    now: DateTime<Utc>,
}

/// Records `usage` for `usage_id`, once: a retry with the same id and
/// amount answers the same, a different amount is a conflict (409).
///
/// This is the hot path of metering. On SQLite every statement is a hop
/// to the connection's thread and back, and every transaction re-reads
/// pages another connection wrote, so charges waiting at the same time
/// are written together in one transaction (`ChargeQueue`). On
/// PostgreSQL each charge has its own transaction, queued on the org row.
pub async fn charge(ctx: &Ctx, usage_id: &str, usage: &Usage) -> DomainResult<()> {
    if usage.micros < 0 {
        return Err(AppError::validation("creditMicrounits", "A charge cannot be negative"));
    }
    if !ctx.billing.metered {
        return Ok(());
    }
    let usage_id = validate::text("usageId", usage_id, 200)?;
    let pending = Pending { usage_id, usage: usage.clone(), now: ctx.clock.now() };
    match &ctx.db {
        Db::Sqlite(_) => ctx.charges.submit(ctx, pending).await,
        Db::Postgres(_) => charge_alone(ctx, &pending).await,
    }
}

/// Records one charge in `$tx`, answering `Ok(answer)` or the database's
/// error; a successful answer says whether the charge is new (`false`
/// when the usage id was already charged the same amount). The usage id
/// is recorded first, which also answers the org's package and whether
/// it has budgets; a refusal deletes that row again,
/// so a refused charge leaves nothing. Spending is counted only for
/// scopes with a budget (`budgets::set` counts what came before). The
/// first bucket in spending order is drawn on by one conditional update
/// when it holds more than the cost.
macro_rules! charge_in_tx {
    ($tx:expr, $ctx:expr, $pending:expr) => {
        async {
            let pending: &Pending = $pending;
            let usage = &pending.usage;
            let (org_id, cost, now, usage_id) = (usage.org_id, usage.cost(), pending.now, &pending.usage_id);
            let period = Period::containing(now).id();
            let agent_scope = usage.agent_id.map(|id| id.to_string());
            macro_rules! refuse {
                ($err:expr) => {{
                    sqlx::query("DELETE FROM usage_debits WHERE org_id = $1 AND usage_id = $2")
                        .bind(org_id)
                        .bind(usage_id)
                        .execute(&mut *$tx)
                        .await?;
                    return Ok(Err($err));
                }};
            }
            let recorded: Option<OrgMeter> = sqlx::query_as(
                "INSERT INTO usage_debits (org_id, usage_id, amount, agent_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (org_id, usage_id) DO NOTHING \
                 RETURNING (SELECT package_id FROM orgs WHERE orgs.id = $1) AS package_id, \
                 EXISTS (SELECT 1 FROM budgets WHERE budgets.org_id = $1) AS has_budgets",
            )
            .bind(org_id)
            .bind(usage_id)
            .bind(cost)
            .bind(usage.agent_id)
            .bind(now)
            .fetch_optional(&mut *$tx)
            .await?;
            let Some(org) = recorded else {
                let earlier: i64 =
                    sqlx::query_scalar("SELECT amount FROM usage_debits WHERE org_id = $1 AND usage_id = $2")
                        .bind(org_id)
                        .bind(usage_id)
                        .fetch_one(&mut *$tx)
                        .await?;
                return Ok(if earlier == cost {
                    Ok(false)
                } else {
                    Err(AppError::conflict("This usage id was already charged a different amount"))
                });
            };
            if let Err(err) = check_package($ctx.billing.package(org.package_id.as_deref()), usage.source) {
                refuse!(err);
            }
            if cost == 0 {
                return Ok(Ok(true));
            }
            let budgets =
                if org.has_budgets { budget_states!($tx, org_id, &agent_scope, &period) } else { Budgets::default() };
            if let Err(err) = budgets.check(cost) {
                refuse!(err);
            }

            let drawn: Option<Uuid> = sqlx::query_scalar(
                "UPDATE credit_buckets SET balance = balance - $2 \
                 WHERE id = (SELECT id FROM credit_buckets \
                             WHERE org_id = $1 AND balance > 0 AND (expires_at IS NULL OR expires_at > $3) \
                             ORDER BY CASE kind WHEN 'grant' THEN 0 ELSE 1 END, created_at, id LIMIT 1) \
                 AND balance > $2 RETURNING id",
            )
            .bind(org_id)
            .bind(cost)
            .bind(now)
            .fetch_optional(&mut *$tx)
            .await?;
            // Whether this charge spends the last credit.
            let mut exhausted = false;
            let takes = match drawn {
                Some(bucket) => vec![(bucket, cost)],
                None => {
                    let buckets: Vec<Spendable> = sqlx::query_as(
                        "SELECT id, balance FROM credit_buckets \
                         WHERE org_id = $1 AND balance > 0 AND (expires_at IS NULL OR expires_at > $2) \
                         ORDER BY CASE kind WHEN 'grant' THEN 0 ELSE 1 END, created_at, id",
                    )
                    .bind(org_id)
                    .bind(now)
                    .fetch_all(&mut *$tx)
                    .await?;
                    let balance: i64 = buckets.iter().map(|b| b.balance).sum();
                    if balance < cost {
                        refuse!(no_credits());
                    }
                    exhausted = balance == cost;
                    let takes = takes(&buckets, cost);
                    for (bucket, take) in &takes {
                        sqlx::query("UPDATE credit_buckets SET balance = balance - $2 WHERE id = $1")
                            .bind(bucket)
                            .bind(take)
                            .execute(&mut *$tx)
                            .await?;
                    }
                    takes
                }
            };
            for (bucket, take) in takes {
                sqlx::query(
                    "INSERT INTO ledger_entries (id, org_id, bucket_id, kind, amount, reference, created_at) \
                     VALUES ($1, $2, $3, 'usage', $4, $5, $6)",
                )
                .bind(Uuid::new_v4())
                .bind(org_id)
                .bind(bucket)
                .bind(-take)
                .bind(usage_id)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            }

            // This period's spending of the budgeted scopes, and the
            // alerts it reaches.
            let scopes = [(Some(ORG_SCOPE), budgets.org), (agent_scope.as_deref(), budgets.agent)];
            for (scope, budget) in scopes {
                let (Some(scope), Some((limit, spent))) = (scope, budget) else { continue };
                sqlx::query(
                    "INSERT INTO budget_spend (org_id, scope, period, spent) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, scope, period) DO UPDATE SET spent = budget_spend.spent + excluded.spent",
                )
                .bind(org_id)
                .bind(scope)
                .bind(&period)
                .bind(cost)
                .execute(&mut *$tx)
                .await?;
                for threshold in budgets::crossed(limit, spent, spent + cost) {
                    let first = sqlx::query(
                        "INSERT INTO budget_alerts (org_id, scope, period, threshold, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, scope, period, threshold) DO NOTHING",
                    )
                    .bind(org_id)
                    .bind(scope)
                    .bind(&period)
                    .bind(threshold)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                    if first == 1 {
                        let payload = json!({
                            "scope": scope, "period": &period, "threshold": threshold,
                            "monthlyLimit": credits(limit).credits, "spent": credits(spent + cost).credits,
                        });
                        notify_in_tx!($tx, org_id, None::<Uuid>, notifications::BUDGET_THRESHOLD, &payload, now)
                            .await?;
                    }
                }
            }
            if exhausted {
                let payload = json!({ "usageId": usage_id });
                notify_in_tx!($tx, org_id, None::<Uuid>, notifications::CREDITS_EXHAUSTED, &payload, now).await?;
            }
            Ok::<DomainResult<bool>, sqlx::Error>(Ok(true))
        }
        .await
    };
}

/// One charge in a transaction of its own.
async fn charge_alone(ctx: &Ctx, pending: &Pending) -> DomainResult<()> {
    let postgres = matches!(ctx.db, Db::Postgres(_));
    let new = on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        if postgres {
            // Charges of one org queue on its row, so each reads the
            // spending and balances the one before left. SQLite has a
            // single writer, which queues them there.
            sqlx::query("UPDATE orgs SET updated_at = updated_at WHERE id = $1")
                .bind(pending.usage.org_id)
                .execute(&mut *tx)
                .await?;
        }
        let answer = charge_in_tx!(tx, ctx, pending)?;
        if answer.is_ok() {
            tx.commit().await?;
        }
        Ok::<_, sqlx::Error>(answer)
    }
    .await)??;
    if new {
        count_charge(ctx, pending);
    }
    Ok(())
}

/// Counts a charge once its transaction has committed. A charge may have
/// written a notification (a budget threshold, credits exhausted): the
/// org's unread counts go (`Caches::unread`).
fn count_charge(ctx: &Ctx, pending: &Pending) {
    metrics::credits_charged(pending.usage.source.label(), pending.usage.cost());
    if pending.usage.cost() > 0 {
        ctx.caches.notifications_written(pending.usage.org_id);
    }
}

/// The most charges written in one SQLite transaction.
const BATCH: usize = 64;

/// Charges waiting to be written on SQLite, and whether a writer is at
/// work. The first charge to arrive while none is starts one; it takes
/// every charge waiting (up to `BATCH`) into one transaction
/// (`BEGIN IMMEDIATE`, so its reads and writes see one state), answers
/// each, and goes on until none is left. Should the transaction fail, each
/// of its charges is tried again alone, so one charge's database error is
/// answered to that charge only.
#[derive(Default)]
pub struct ChargeQueue {
    state: std::sync::Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<(Pending, oneshot::Sender<DomainResult<()>>)>,
    writing: bool,
}

impl ChargeQueue {
    async fn submit(&self, ctx: &Ctx, pending: Pending) -> DomainResult<()> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = self.state.lock().expect("charge queue");
            state.waiting.push((pending, answer));
            !std::mem::replace(&mut state.writing, true)
        };
        if start {
            tokio::spawn(write_waiting(ctx.clone()));
        }
        answered.await.map_err(|_| AppError::internal())?
    }
}

/// Clears `writing` should the writer panic, so the next charge starts
/// another (the charges it held are answered with an error).
struct Writing<'a>(&'a ChargeQueue);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut state) = self.0.state.lock() {
                state.writing = false;
            }
        }
    }
}

async fn write_waiting(ctx: Ctx) {
    let queue = ctx.charges.clone();
    let _writing = Writing(&queue);
    loop {
        let batch: Vec<_> = {
            let mut state = queue.state.lock().expect("charge queue");
            if state.waiting.is_empty() {
                // Under the lock `submit` takes: a charge arriving next
                // finds no writer and starts one.
                state.writing = false;
                return;
            }
            let take = state.waiting.len().min(BATCH);
            state.waiting.drain(..take).collect()
        };
        let (pending, answers): (Vec<Pending>, Vec<_>) = batch.into_iter().unzip();
        let results = match write_batch(&ctx, &pending).await {
            Ok(results) => results,
            Err(err) => {
                tracing::warn!(error = %err, charges = pending.len(), "a batch of charges failed; writing each alone");
                let mut results = Vec::with_capacity(pending.len());
                for one in &pending {
                    results.push(charge_alone(&ctx, one).await);
                }
                results
            }
        };
        for (answer, result) in answers.into_iter().zip(results) {
            let _ = answer.send(result);
        }
    }
}

async fn write_batch(ctx: &Ctx, batch: &[Pending]) -> Result<Vec<DomainResult<()>>, sqlx::Error> {
    let Db::Sqlite(pool) = &ctx.db else { unreachable!("charges are batched on SQLite only") };
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for pending in batch {
        results.push(charge_in_tx!(tx, ctx, pending)?);
    }
    tx.commit().await?;
    Ok(batch
        .iter()
        .zip(results)
        .map(|(pending, answer)| {
            if matches!(answer, Ok(true)) {
                count_charge(ctx, pending);
            }
            answer.map(|_| ())
        })
        .collect())
}

/// What `cost` takes from each bucket, in spending order (grant first,
/// then purchases oldest first); the buckets must hold enough.
fn takes(buckets: &[Spendable], cost: i64) -> Vec<(Uuid, i64)> {
    let mut left = cost;
    let mut takes = Vec::new();
    for bucket in buckets {
        if left == 0 {
            break;
        }
        let take = left.min(bucket.balance);
        takes.push((bucket.id, take));
        left -= take;
    }
    takes
}
