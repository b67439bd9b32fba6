//! Credits (SPEC §8): buckets with a kept balance and the immutable ledger
//! that explains every change. Money is never lost or doubled:
//! - a bucket is created once per source (unique per org, kind and source
//!   reference), in the transaction of the entry that fills it;
//! - a debit is recorded once per usage id, and takes from the grant
//!   bucket first, then purchases oldest first, never below zero;
//! - every balance change and its entry commit together, and
//!   `verify` recomputes each balance from the entries.
//!
//! Debits of one org are serialized by writing the org row first (a row
//! lock on PostgreSQL; SQLite has one writer), so concurrent debits see
//! each other's results.

pub mod budgets;
pub mod grants;
pub mod metering;
pub mod plans;
pub mod stripe_api;
pub mod top_ups;
pub mod webhooks;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::clock::iso;
use super::paging::{Cursor, PageRequest};
use super::{Ctx, DomainResult};
use crate::db::on_db;
use crate::model::{AppError, BillingSummary, CreditBucketView, Credits, DailyUsage, LedgerEntryView, Page};

pub const MICROS_PER_CREDIT: i64 = 1_000_000;

/// `credits` as a decimal string ("12.5") beside the exact micro-units.
pub fn credits(micros: i64) -> Credits {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let whole = abs / MICROS_PER_CREDIT as u64;
    let fraction = abs % MICROS_PER_CREDIT as u64;
    let text = if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{fraction:06}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    };
    Credits { credits: text, credit_microunits: micros }
}

/// Parses a positive number of credits ("10", "2.5") into micro-units.
pub fn parse_credits(text: &str) -> DomainResult<i64> {
    parse_credits_field("credits", text)
}

/// `parse_credits` for an input field named `field`.
pub fn parse_credits_field(field: &str, text: &str) -> DomainResult<i64> {
    let bad = || AppError::validation(field, "Give a positive number of credits with at most 6 decimals");
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || fraction.len() > 6 || !whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let fraction: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<6}").parse().map_err(|_| bad())? };
    let micros = whole.checked_mul(MICROS_PER_CREDIT).and_then(|w| w.checked_add(fraction)).ok_or_else(bad)?;
    if micros <= 0 {
        return Err(bad());
    }
    Ok(micros)
}

/// Where deposited credits come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepositKind {
    /// The package's monthly grant: a `grant` bucket, expiring at the end
    /// of its period, spent first.
    Grant,
    /// A purchase: a `top_up` bucket that never expires.
    Purchase,
    /// Given by an operator: like a purchase, recorded as an adjustment.
    Adjustment,
}

impl DepositKind {
    /// (bucket kind, ledger entry kind)
    pub fn kinds(self) -> (&'static str, &'static str) {
        match self {
            DepositKind::Grant => ("grant", "grant"),
            DepositKind::Purchase => ("top_up", "top_up"),
            DepositKind::Adjustment => ("top_up", "adjustment"),
        }
    }
}

/// Credits arriving: a new bucket with its first entry.
pub struct Deposit<'a> {
    pub org_id: Uuid,
    pub kind: DepositKind,
    /// Unique per org and kind: a second deposit with it changes nothing.
    pub source_ref: &'a str,
    pub micros: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub actor_user_id: Option<Uuid>,
    pub reason: Option<&'a str>,
}

/// Creates the deposit's bucket and its first entry on `$tx` (an open
/// transaction of either backend): `Ok(false)` when that source was
/// already credited. A macro so the Stripe webhook can record its event in
/// the same transaction.
#[macro_export]
macro_rules! deposit_in_tx {
    ($tx:expr, $d:expr, $now:expr) => {
        async {
            let d: &$crate::domain::billing::Deposit<'_> = $d;
            let bucket_id = uuid::Uuid::new_v4();
            let (bucket_kind, entry_kind) = d.kind.kinds();
            let inserted = sqlx::query(
                "INSERT INTO credit_buckets (id, org_id, kind, source_ref, balance, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, kind, source_ref) DO NOTHING",
            )
            .bind(bucket_id)
            .bind(d.org_id)
            .bind(bucket_kind)
            .bind(d.source_ref)
            .bind(d.micros)
            .bind(d.expires_at)
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok::<bool, sqlx::Error>(false);
            }
            sqlx::query(
                "INSERT INTO ledger_entries (id, org_id, bucket_id, kind, amount, reference, actor_user_id, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(uuid::Uuid::new_v4())
            .bind(d.org_id)
            .bind(bucket_id)
            .bind(entry_kind)
            .bind(d.micros)
            .bind(d.source_ref)
            .bind(d.actor_user_id)
            .bind(d.reason)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            Ok(true)
        }
    };
}
pub use deposit_in_tx;

/// Adds credits exactly once per source: `false` when that source was
/// already credited.
pub async fn deposit(ctx: &Ctx, d: Deposit<'_>) -> DomainResult<bool> {
    if d.micros <= 0 {
        return Err(AppError::validation("credits", "A deposit must be positive"));
    }
    let now = ctx.clock.now();
    let created: DomainResult<bool> = on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        let created = deposit_in_tx!(tx, &d, now).await?;
        tx.commit().await?;
        Ok(created)
    }
    .await);
    created
}

/// Charges `micros` of metered platform work for `usage_id`, once (see
/// `metering::charge`).
pub async fn debit(ctx: &Ctx, org_id: Uuid, usage_id: &str, micros: i64) -> DomainResult<()> {
    metering::charge(
        ctx,
        usage_id,
        &metering::Usage { org_id, agent_id: None, source: metering::Source::Platform, micros },
    )
    .await
}

#[derive(sqlx::FromRow)]
struct BucketRow {
    id: Uuid,
    kind: String,
    balance: i64,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// The SQL of what an org (`$1`) can spend at `$2`, in micro-units (NULL
/// for none): its live buckets' total, for what shows only the total (a
/// subquery of the overview's counts, `orgs::counts`).
pub(crate) const BALANCE_SQL: &str = "SELECT CAST(SUM(balance) AS BIGINT) FROM credit_buckets \
     WHERE org_id = $1 AND balance > 0 AND (expires_at IS NULL OR expires_at > $2)";

/// What the billing page reads from the database, kept by
/// `caches.billing`: the balance, `chart_days` of usage and the latest 10
/// ledger entries.
pub struct LedgerData {
    pub summary: BillingSummary,
    pub usage: Vec<DailyUsage>,
    pub recent: Vec<LedgerEntryView>,
}

/// (The package in `summary` is read fresh by the caller:
/// [`fresh_package`].)
pub async fn page_data(ctx: &Ctx, org_id: Uuid, chart_days: i64) -> DomainResult<std::sync::Arc<LedgerData>> {
    super::cache::through(&ctx.caches.billing, org_id, ctx.clock.now(), || async {
        let recent = ledger(ctx, org_id, PageRequest::parse(Some(10), None)?).await?.items;
        Ok(std::sync::Arc::new(LedgerData {
            summary: summary(ctx, org_id).await?,
            usage: daily_usage(ctx, org_id, chart_days).await?,
            recent,
        }))
    })
    .await
}

/// `summary` with its package read fresh (see [`stored_package_view`]):
/// the rest of the billing page may come from memory, the package not.
pub async fn fresh_package(ctx: &Ctx, org_id: Uuid, mut summary: BillingSummary) -> DomainResult<BillingSummary> {
    // Without the cache (PostgreSQL) `summary` was read just now.
    if ctx.caches.billing.is_some() {
        summary.package = stored_package_view(ctx, org_id).await?;
    }
    Ok(summary)
}

/// The org's package as stored, read fresh: an operator who just moved
/// the org (`alumia admin set-package`, another process) sees it at once.
async fn stored_package_view(ctx: &Ctx, org_id: Uuid) -> DomainResult<crate::model::PackageView> {
    let package_id = plans::stored_package_id(ctx, org_id).await?;
    Ok(ctx.billing.package_view(ctx.billing.package(package_id.as_deref())))
}

/// The org's live buckets (grant first) and their total.
pub async fn summary(ctx: &Ctx, org_id: Uuid) -> DomainResult<BillingSummary> {
    let rows: Vec<BucketRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, kind, balance, expires_at, created_at FROM credit_buckets \
         WHERE org_id = $1 AND balance > 0 AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY CASE kind WHEN 'grant' THEN 0 ELSE 1 END, created_at, id"
    )
    .bind(org_id)
    .bind(ctx.clock.now())
    .fetch_all(p)
    .await)?;
    let total = rows.iter().map(|r| r.balance).sum();
    let period = plans::Period::containing(ctx.clock.now());
    Ok(BillingSummary {
        package: stored_package_view(ctx, org_id).await?,
        period: period.view(),
        budgets: budgets::list(ctx, org_id, &period).await?,
        metered: ctx.billing.metered,
        balance: credits(total),
        buckets: rows
            .into_iter()
            .map(|r| CreditBucketView {
                id: r.id,
                kind: r.kind,
                balance: credits(r.balance),
                expires_at: r.expires_at.map(iso),
                created_at: iso(r.created_at),
            })
            .collect(),
    })
}

/// A bucket whose kept balance differs from the sum of its entries.
#[derive(Debug, sqlx::FromRow)]
pub struct Mismatch {
    pub bucket_id: Uuid,
    pub kept: i64,
    pub computed: i64,
}

/// Recomputes every balance from the ledger (`alumia admin verify-ledger`).
pub async fn verify(ctx: &Ctx) -> DomainResult<Vec<Mismatch>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT b.id AS bucket_id, b.balance AS kept, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) AS computed \
         FROM credit_buckets b LEFT JOIN ledger_entries e ON e.bucket_id = b.id \
         GROUP BY b.id, b.balance HAVING b.balance <> COALESCE(SUM(e.amount), 0)"
    )
    .fetch_all(p)
    .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_print_exactly() {
        assert_eq!(credits(12_500_000).credits, "12.5");
        assert_eq!(credits(1).credits, "0.000001");
        assert_eq!(credits(3_000_000).credits, "3");
        assert_eq!(credits(-250_000).credits, "-0.25");
    }

    #[test]
    fn credits_parse_exactly_or_not_at_all() {
        assert_eq!(parse_credits("10").unwrap(), 10_000_000);
        assert_eq!(parse_credits("2.5").unwrap(), 2_500_000);
        assert_eq!(parse_credits("0.000001").unwrap(), 1);
        for bad in ["0", "-1", "1.0000001", "abc", "", "1e3", ".5"] {
            assert!(parse_credits(bad).is_err(), "{bad}");
        }
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: Uuid,
    bucket_id: Uuid,
    kind: String,
    amount: i64,
    reference: String,
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

impl EntryRow {
    fn view(self) -> LedgerEntryView {
        LedgerEntryView {
            id: self.id,
            bucket_id: self.bucket_id,
            kind: self.kind,
            amount: credits(self.amount),
            reference: self.reference,
            reason: self.reason,
            created_at: iso(self.created_at),
        }
    }
}

/// The org's ledger, newest first, cursor-paged.
pub async fn ledger(ctx: &Ctx, org_id: Uuid, page: PageRequest) -> DomainResult<Page<LedgerEntryView>> {
    let (before_at, before_id) = page.bounds();
    let rows: Vec<EntryRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT id, bucket_id, kind, amount, reference, reason, created_at FROM ledger_entries \
         WHERE org_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )
    .bind(org_id)
    .bind(before_at)
    .bind(before_id)
    .bind(page.fetch_limit())
    .fetch_all(p)
    .await)?;
    Ok(page.finish(rows, |r| Cursor { created_at: r.created_at, id: r.id }, EntryRow::view))
}

/// Credits used per UTC day over the last `days` days (today included),
/// oldest first; days without usage are zero.
pub async fn daily_usage(ctx: &Ctx, org_id: Uuid, days: i64) -> DomainResult<Vec<DailyUsage>> {
    let today = ctx.clock.now().date_naive();
    let first = today - chrono::Days::new(days.max(1) as u64 - 1);
    let since = first.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    // Summed here rather than in SQL: the backends group dates differently.
    let rows: Vec<(DateTime<Utc>, i64)> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT created_at, amount FROM ledger_entries WHERE org_id = $1 AND kind = 'usage' AND created_at >= $2"
    )
    .bind(org_id)
    .bind(since)
    .fetch_all(p)
    .await)?;
    let mut totals = vec![0i64; days.max(1) as usize];
    for (at, amount) in rows {
        let index = (at.date_naive() - first).num_days();
        if let Some(total) = usize::try_from(index).ok().and_then(|i| totals.get_mut(i)) {
            *total -= amount;
        }
    }
    Ok(totals
        .into_iter()
        .enumerate()
        .map(|(i, micros)| DailyUsage {
            date: (first + chrono::Days::new(i as u64)).format("%Y-%m-%d").to_string(),
            used: credits(micros),
        })
        .collect())
}
