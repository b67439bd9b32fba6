//! Monthly budgets: one for the whole org and one per agent, in credits.
//! Metered usage beyond a budget is refused (402 `budget_exhausted`);
//! spending reaches 50, 80 and 100 % alerts once per period each, as a
//! notification. Changing a budget is an org setting: browser only, with a
//! fresh step-up, for owners and admins.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::plans::Period;
use super::{credits, parse_credits_field};
use crate::db::on_db;
use crate::domain::audit::{self, AuditEvent};
use crate::domain::orgs::require_role;
use crate::domain::{step_up, Actor, Ctx, DomainResult};
use crate::model::{BudgetView, Role, SetBudgetInput};

/// Percentages of a budget that alert.
pub const THRESHOLDS: [i64; 3] = [50, 80, 100];

/// The scope key of the org's budget; an agent's is its id.
pub const ORG_SCOPE: &str = "org";

pub fn scope_of(agent_id: Option<Uuid>) -> String {
    agent_id.map_or_else(|| ORG_SCOPE.to_string(), |id| id.to_string())
}

/// The thresholds spending crossed going from `before` to `after` of
/// `limit` (a zero budget is crossed by any spending).
pub fn crossed(limit: i64, before: i64, after: i64) -> Vec<i64> {
    THRESHOLDS
        .iter()
        .copied()
        .filter(|t| {
            let mark = i128::from(limit) * i128::from(*t);
            i128::from(before) * 100 < mark.max(1) && i128::from(after) * 100 >= mark.max(1)
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct BudgetRow {
    scope: String,
    monthly_limit: i64,
    spent: Option<i64>,
}

/// The org's budgets with this period's spending, the org's first.
pub async fn list(ctx: &Ctx, org_id: Uuid, period: &Period) -> DomainResult<Vec<BudgetView>> {
    let rows: Vec<BudgetRow> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT b.scope, b.monthly_limit, s.spent FROM budgets b \
         LEFT JOIN budget_spend s ON s.org_id = b.org_id AND s.scope = b.scope AND s.period = $2 \
         WHERE b.org_id = $1 ORDER BY CASE b.scope WHEN 'org' THEN 0 ELSE 1 END, b.scope"
    )
    .bind(org_id)
    .bind(period.id())
    .fetch_all(p)
    .await)?;
    let alerts: Vec<(String, i64)> = on_db!(&ctx.db, |p| sqlx::query_as(
        "SELECT scope, threshold FROM budget_alerts WHERE org_id = $1 AND period = $2 ORDER BY threshold"
    )
    .bind(org_id)
    .bind(period.id())
    .fetch_all(p)
    .await)?;
    let mut alerted: HashMap<String, Vec<i64>> = HashMap::new();
    for (scope, threshold) in alerts {
        alerted.entry(scope).or_default().push(threshold);
    }
    Ok(rows
        .into_iter()
        .map(|r| BudgetView {
            agent_id: r.scope.parse().ok(),
            monthly_limit: credits(r.monthly_limit),
            spent: credits(r.spent.unwrap_or(0)),
            thresholds: THRESHOLDS.to_vec(),
            alerted: alerted.remove(&r.scope).unwrap_or_default(),
        })
        .collect())
}

/// Sets (or removes) the org's budget or an agent's.
pub async fn set(ctx: &Ctx, actor: &Actor, slug: &str, input: &SetBudgetInput) -> DomainResult<Vec<BudgetView>> {
    step_up::require_browser_step_up(ctx, actor)?;
    let org = require_role(ctx, actor, slug, Role::Admin).await?;
    let limit = match input.monthly_credits.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("0") => Some(0),
        Some(text) => Some(parse_credits_field("monthlyCredits", text)?),
    };
    let scope = scope_of(input.agent_id);
    let now: DateTime<Utc> = ctx.clock.now();
    let event = AuditEvent {
        org_id: Some(org.id),
        action: if limit.is_some() { "billing.budget_set" } else { "billing.budget_remove" },
        target: Some(scope.clone()),
        details: Some(json!({ "monthlyCredits": limit.map(|l| credits(l).credits) })),
    };
    let user_id = actor.user_id();
    on_db!(&ctx.db, |p| {
        async {
        let mut tx = p.begin().await?;
        // Queued on the org row with its charges, so none is missed by the
        // spending counted below (charges count only budgeted scopes).
        sqlx::query("UPDATE orgs SET updated_at = updated_at WHERE id = $1").bind(org.id).execute(&mut *tx).await?;
        match limit {
            Some(limit) => {
                sqlx::query(
                    "INSERT INTO budgets (org_id, scope, monthly_limit, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (org_id, scope) DO UPDATE SET monthly_limit = excluded.monthly_limit, \
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                )
                .bind(org.id)
                .bind(&scope)
                .bind(limit)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // This period's spending so far, counted from the usage.
                let period = Period::containing(now);
                sqlx::query(
                    "INSERT INTO budget_spend (org_id, scope, period, spent) \
                     SELECT $1, $2, $3, COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM usage_debits \
                     WHERE org_id = $1 AND created_at >= $4 AND created_at < $5 AND ($6 IS NULL OR agent_id = $6) \
                     ON CONFLICT (org_id, scope, period) DO UPDATE SET spent = excluded.spent",
                )
                .bind(org.id)
                .bind(&scope)
                .bind(period.id())
                .bind(period.starts_at)
                .bind(period.ends_at)
                .bind(input.agent_id)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM budgets WHERE org_id = $1 AND scope = $2")
                    .bind(org.id)
                    .bind(&scope)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        audit::audit_in_tx!(ctx, &mut *tx, actor.into(), event)?;
        tx.commit().await
    }
    .await
    })?;
    list(ctx, org.id, &Period::containing(now)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_is_crossed_once_on_the_way_up() {
        assert_eq!(crossed(100, 0, 49), Vec::<i64>::new());
        assert_eq!(crossed(100, 0, 50), vec![50]);
        assert_eq!(crossed(100, 49, 81), vec![50, 80]);
        assert_eq!(crossed(100, 81, 100), vec![100]);
        assert_eq!(crossed(100, 100, 150), Vec::<i64>::new());
        assert_eq!(crossed(0, 0, 1), vec![50, 80, 100]);
    }
}
