//! What is for sale and how billing runs on this server: packages (monthly
//! grant, caps, BYOK / managed models), credit packs, the price of a
//! credit, Stripe, and the monthly period.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use uuid::Uuid;

use super::{credits, MICROS_PER_CREDIT};
use crate::db::on_db;
use crate::domain::audit::{self, AuditActor, AuditEvent};
use crate::domain::clock::iso;
use crate::domain::{Ctx, DomainResult};
use crate::model::{AppError, BillingPeriod, CreditPackView, PackageView};

/// A package: `[[packages]]` in the config file. An org has exactly one.
/// A cap left out means no limit.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub monthly_credits: i64,
    pub max_agents: Option<i64>,
    pub max_schedules: Option<i64>,
    pub max_storage_mb: Option<i64>,
    #[serde(default = "allowed")]
    pub byok: bool,
    #[serde(default = "allowed")]
    pub managed_models: bool,
    /// The Stripe Price of its subscription; without one it is not sold
    /// through Checkout (operators assign it).
    pub stripe_price: Option<String>,
}

fn allowed() -> bool {
    true
}

/// A fixed top-up on sale: `[[credit_packs]]` in the config file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPack {
    pub id: String,
    pub credits: i64,
    pub amount_cents: i64,
}

/// Stripe, when configured. The client points at `api_base` (the real
/// API, or a stand-in in tests).
#[derive(Clone)]
pub struct StripeSettings {
    pub client: stripe::Client,
    pub webhook_secret: String,
    pub publishable_key: String,
    pub js_url: String,
    pub currency: String,
}

/// Billing as configured; `Ctx::billing`.
#[derive(Clone)]
pub struct BillingSettings {
    /// `false` with `ALUMIA_BILLING=disabled`: nothing is metered.
    pub metered: bool,
    pub packages: Vec<Package>,
    /// The package of an org that has not chosen one.
    pub default_package: String,
    pub credit_packs: Vec<CreditPack>,
    /// Credits one US dollar (100 cents) buys.
    pub credits_per_dollar: i64,
    pub min_top_up_cents: i64,
    pub max_top_up_cents: i64,
    pub stripe: Option<StripeSettings>,
}

impl BillingSettings {
    /// Personal, Pro and Team: what a server offers when its configuration
    /// names no packages.
    pub fn default_packages() -> Vec<Package> {
        let package = |id: &str, name: &str, monthly: i64, agents: i64, schedules: i64, storage: i64| Package {
            id: id.into(),
            name: name.into(),
            monthly_credits: monthly,
            max_agents: Some(agents),
            max_schedules: Some(schedules),
            max_storage_mb: Some(storage),
            byok: true,
            managed_models: true,
            stripe_price: None,
        };
        vec![
            package("personal", "Personal", 100, 3, 10, 1_024),
            package("pro", "Pro", 2_000, 25, 100, 20_480),
            package("team", "Team", 10_000, 100, 500, 102_400),
        ]
    }

    pub fn default_credit_packs() -> Vec<CreditPack> {
        vec![
            CreditPack { id: "credits-500".into(), credits: 500, amount_cents: 500 },
            CreditPack { id: "credits-2000".into(), credits: 2_000, amount_cents: 2_000 },
            CreditPack { id: "credits-10000".into(), credits: 10_000, amount_cents: 10_000 },
        ]
    }

    /// Metered, without Stripe, with the built-in packages and packs: the
    /// starting point the configuration changes.
    pub fn unconfigured() -> BillingSettings {
        BillingSettings {
            metered: true,
            packages: Self::default_packages(),
            default_package: "personal".into(),
            credit_packs: Self::default_credit_packs(),
            credits_per_dollar: 100,
            min_top_up_cents: 500,
            max_top_up_cents: 100_000,
            stripe: None,
        }
    }

    pub fn package(&self, id: Option<&str>) -> &Package {
        let wanted = id.unwrap_or(&self.default_package);
        self.packages
            .iter()
            .find(|p| p.id == wanted)
            .or_else(|| self.packages.iter().find(|p| p.id == self.default_package))
            .unwrap_or(&self.packages[0])
    }

    pub fn credit_pack(&self, id: &str) -> Option<&CreditPack> {
        self.credit_packs.iter().find(|p| p.id == id)
    }

    /// Micro-units `cents` buy.
    pub fn micros_for_cents(&self, cents: i64) -> i64 {
        cents * self.credits_per_dollar * MICROS_PER_CREDIT / 100
    }

    pub fn package_view(&self, p: &Package) -> PackageView {
        PackageView {
            id: p.id.clone(),
            name: p.name.clone(),
            monthly_grant: credits(p.monthly_credits * MICROS_PER_CREDIT),
            max_agents: p.max_agents,
            max_schedules: p.max_schedules,
            max_storage_mb: p.max_storage_mb,
            byok: p.byok,
            managed_models: p.managed_models,
            purchasable: self.stripe.is_some() && p.stripe_price.is_some(),
        }
    }

    pub fn credit_pack_views(&self) -> Vec<CreditPackView> {
        self.credit_packs
            .iter()
            .map(|p| CreditPackView {
                id: p.id.clone(),
                credits: credits(p.credits * MICROS_PER_CREDIT),
                amount_cents: p.amount_cents,
            })
            .collect()
    }

    /// Checks what the configuration says before the server starts.
    pub fn check(&self) -> Result<(), String> {
        if self.packages.is_empty() {
            return Err("billing needs at least one package".into());
        }
        if !self.packages.iter().any(|p| p.id == self.default_package) {
            return Err(format!("the default package {:?} is not among the packages", self.default_package));
        }
        for (i, p) in self.packages.iter().enumerate() {
            if p.id.is_empty() || self.packages[..i].iter().any(|q| q.id == p.id) {
                return Err(format!("package ids must be unique and not empty ({:?})", p.id));
            }
            if p.monthly_credits < 0 {
                return Err(format!("package {:?}: monthly_credits cannot be negative", p.id));
            }
        }
        for pack in &self.credit_packs {
            if pack.credits <= 0 || pack.amount_cents <= 0 {
                return Err(format!("credit pack {:?}: credits and amount_cents must be positive", pack.id));
            }
        }
        if self.credits_per_dollar <= 0 || self.min_top_up_cents <= 0 || self.max_top_up_cents < self.min_top_up_cents {
            return Err("credits_per_dollar and the top-up bounds must be positive and ordered".into());
        }
        Ok(())
    }
}

/// A monthly billing period (calendar month, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Period {
    pub fn containing(at: DateTime<Utc>) -> Period {
        let start = Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().expect("the 1st exists");
        let (year, month) = if at.month() == 12 { (at.year() + 1, 1) } else { (at.year(), at.month() + 1) };
        let end = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().expect("the 1st exists");
        Period { starts_at: start, ends_at: end }
    }

    /// `2026-11`: the grant's source reference and the budgets' key.
    pub fn id(&self) -> String {
        self.starts_at.format("%Y-%m").to_string()
    }

    pub fn view(&self) -> BillingPeriod {
        BillingPeriod { id: self.id(), starts_at: iso(self.starts_at), ends_at: iso(self.ends_at) }
    }
}

/// The org's package id as stored (`None`: the default package), through
/// the cache (`Caches::packages`): a change made by another process (the
/// `alumia admin` CLI, another instance) shows within its TTL.
pub async fn package_id_of(ctx: &Ctx, org_id: Uuid) -> DomainResult<Option<String>> {
    let now = ctx.clock.now();
    if let Some(id) = ctx.caches.packages.get(&org_id, now) {
        return Ok(id);
    }
    let ticket = ctx.caches.packages.ticket();
    let id = stored_package_id(ctx, org_id).await?;
    ctx.caches.packages.put(ticket, org_id, id.clone(), now);
    Ok(id)
}

/// The org's package id read from the database, not the cache: what the
/// billing page shows and grants follow, so an operator's change is seen
/// there at once.
pub async fn stored_package_id(ctx: &Ctx, org_id: Uuid) -> DomainResult<Option<String>> {
    Ok(on_db!(&ctx.db, |p| sqlx::query_scalar("SELECT package_id FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_one(p)
        .await)?)
}

/// After a write that may change orgs' packages: the next read asks the
/// database (`None`: every org's).
pub fn forget_package(ctx: &Ctx, org_id: Option<Uuid>) {
    ctx.caches.packages.invalidate(|k| org_id.is_none_or(|id| *k == id));
}

/// The org's package.
pub async fn package_of(ctx: &Ctx, org_id: Uuid) -> DomainResult<Package> {
    let id = package_id_of(ctx, org_id).await?;
    Ok(ctx.billing.package(id.as_deref()).clone())
}

/// Puts the org on `package_id` (operators; Stripe Checkout goes through
/// the webhook), audited.
pub async fn set_package(ctx: &Ctx, org_id: Uuid, package_id: &str) -> DomainResult<()> {
    if !ctx.billing.packages.iter().any(|p| p.id == package_id) {
        let known: Vec<&str> = ctx.billing.packages.iter().map(|p| p.id.as_str()).collect();
        return Err(AppError::validation("package", format!("No package {package_id:?}; known: {}", known.join(", "))));
    }
    let now = ctx.clock.now();
    let event = AuditEvent {
        org_id: Some(org_id),
        action: "billing.package_set",
        target: Some(package_id.to_string()),
        details: None,
    };
    let operator = AuditActor { user_id: None, auth_method: "cli", stepped_up_at: None, ip: None };
    on_db!(&ctx.db, |p| async {
        let mut tx = p.begin().await?;
        sqlx::query("UPDATE orgs SET package_id = $2, updated_at = $3 WHERE id = $1")
            .bind(org_id)
            .bind(package_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        audit::audit_in_tx!(ctx, &mut *tx, operator, event)?;
        tx.commit().await
    }
    .await)?;
    forget_package(ctx, Some(org_id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_the_calendar_month_in_utc() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let period = Period::containing(at);
        assert_eq!(period.id(), "2026-12");
        assert_eq!(period.starts_at, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(period.ends_at, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(Period::containing(period.ends_at).id(), "2027-01");
    }

    #[test]
    fn the_default_configuration_is_valid_and_prices_a_credit_at_a_cent() {
        let settings = BillingSettings::unconfigured();
        settings.check().unwrap();
        assert_eq!(settings.micros_for_cents(500), 500 * MICROS_PER_CREDIT);
        assert_eq!(settings.package(Some("gone")).id, "personal", "an unknown package falls back to the default");
    }
}
