//! `/<orgSlug>/billing`: credits by bucket, the package and its caps,
//! usage over the last 30 days (a server-rendered SVG chart), budgets,
//! buying credits (Stripe Elements), packages (Stripe Checkout), invoices
//! and recent ledger entries.

use leptos::prelude::*;

use crate::api::billing::{create_top_up, get_billing_page, SetBudget, StartCheckout};
use crate::components::forms::{action_error, loaded, FormError, BUTTON, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::numbers::{format_credits, push_digits};
use crate::components::payments_glue;
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::{
    BillingPageData, BudgetView, CreditPackView, DailyUsage, InvoiceView, LedgerEntryView, PackageView, PaymentsConfig,
    TopUpInput,
};

#[component]
pub fn BillingPage() -> impl IntoView {
    let slug = use_org_slug();
    let budget = ServerAction::<SetBudget>::new();
    let data = page_resource(move || (slug.get(), budget.version().get()), |(slug, _)| get_billing_page(slug));
    view! {
        <PageHeader title="Billing" intro="Credits, usage, budgets and your package."/>
        <Transition fallback=|| view! { <p class="text-sm text-slate-600">"Loading…"</p> }>
            {move || suspend(async move { loaded(data.await, |d| view! { <BillingView data=d budget/> }) })}
        </Transition>
    }
}

fn bucket_label(kind: &str) -> &'static str {
    match kind {
        "grant" => "Monthly grant",
        _ => "Credits that do not expire",
    }
}

const LINK: &str = "font-medium text-indigo-700 underline hover:text-indigo-900";

#[component]
fn BillingView(data: BillingPageData, budget: ServerAction<SetBudget>) -> impl IntoView {
    let used: i64 = data.usage.iter().map(|d| d.used.credit_microunits).sum();
    let summary = data.summary;
    view! {
        {(!summary.metered).then(|| view! {
            <p class="mb-6 rounded-md border border-slate-200 bg-white px-4 py-3 text-sm text-slate-700">
                "Billing is turned off on this server: nothing is metered or charged."
            </p>
        })}
        <div class="grid gap-6 lg:grid-cols-2">
            <section class=CARD aria-labelledby="balance-heading">
                <h2 id="balance-heading" class="text-base font-semibold text-slate-900">"Balance"</h2>
                <p class="mt-2 text-3xl font-bold text-slate-900" data-testid="balance">
                    {format_credits(&summary.balance.credits)}<span class="ml-2 text-base font-medium text-slate-600">"credits"</span>
                </p>
                {if summary.buckets.is_empty() {
                    view! { <p class="mt-2 text-sm text-slate-700">"No credits yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="mt-3 divide-y divide-slate-100 text-sm" aria-label="Credit buckets">
                            {summary.buckets.into_iter().map(|b| view! {
                                <li class="flex flex-wrap justify-between gap-2 py-2">
                                    <span class="text-slate-800">{bucket_label(&b.kind)}" · added "<UtcTime iso=b.created_at/></span>
                                    <span class="text-right font-medium text-slate-900">
                                        {b.balance.credits}" credits"
                                        {b.expires_at.map(|t| view! { <span class="ml-2 font-normal text-slate-600">"expires "<UtcTime iso=t/></span> })}
                                    </span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <p class="mt-3 text-sm text-slate-700">"The monthly grant is spent first. Purchased credits, and credits an operator adds, never expire."</p>
            </section>
            <PackageCard package=summary.package.clone() period_ends=summary.period.ends_at.clone()/>
        </div>

        <section class=format!("{CARD} mt-6") aria-labelledby="usage-heading">
            <h2 id="usage-heading" class="text-base font-semibold text-slate-900">"Usage, last 30 days"</h2>
            <p class="mt-1 text-sm text-slate-700">{format!("{} credits used.", trim(used))}</p>
            <div class="mt-3 overflow-x-auto" inner_html=usage_chart(&data.usage)></div>
        </section>

        <BudgetsCard budgets=summary.budgets may_manage=data.may_manage budget/>
        <BuyCredits payments=data.payments packs=data.credit_packs may_manage=data.may_manage/>
        <PackagesCard packages=data.packages current=summary.package.id may_manage=data.may_manage/>
        <InvoicesCard invoices=data.invoices error=data.invoices_error/>
        <LedgerCard entries=data.recent/>
    }
}

fn cap(limit: Option<i64>) -> String {
    limit.map_or_else(|| "no limit".to_string(), |l| l.to_string())
}

#[component]
fn PackageCard(package: PackageView, period_ends: String) -> impl IntoView {
    let yes_no = |allowed: bool| if allowed { "included" } else { "not included" };
    view! {
        <section class=CARD aria-labelledby="package-heading">
            <h2 id="package-heading" class="text-base font-semibold text-slate-900">"Package"</h2>
            <p class="mt-2 text-xl font-semibold text-slate-900" data-testid="package-name">{package.name.clone()}</p>
            <p class="mt-1 text-sm text-slate-700">
                {format!("{} credits every month; this period ends ", format_credits(&package.monthly_grant.credits))}<UtcTime iso=period_ends/>"."
            </p>
            <dl class="mt-3 grid grid-cols-2 gap-x-4 gap-y-1 text-sm">
                <dt class="text-slate-600">"Agents"</dt><dd class="text-slate-900">{cap(package.max_agents)}</dd>
                <dt class="text-slate-600">"Schedules"</dt><dd class="text-slate-900">{cap(package.max_schedules)}</dd>
                <dt class="text-slate-600">"Storage (MB)"</dt><dd class="text-slate-900">{cap(package.max_storage_mb)}</dd>
                <dt class="text-slate-600">"Managed models"</dt><dd class="text-slate-900">{yes_no(package.managed_models)}</dd>
                <dt class="text-slate-600">"Your own model keys"</dt><dd class="text-slate-900">{yes_no(package.byok)}" (0 credits)"</dd>
            </dl>
        </section>
    }
}

fn percent(spent: i64, limit: i64) -> i64 {
    if limit <= 0 {
        return if spent > 0 { 100 } else { 0 };
    }
    (spent.saturating_mul(100) / limit).min(100)
}

fn bar_class(pct: i64) -> &'static str {
    if pct >= 100 {
        "fill-red-600"
    } else if pct >= 80 {
        "fill-amber-500"
    } else {
        "fill-indigo-600"
    }
}

#[component]
fn BudgetsCard(budgets: Vec<BudgetView>, may_manage: bool, budget: ServerAction<SetBudget>) -> impl IntoView {
    let slug = use_org_slug();
    let error = action_error(budget);
    let org_budget = budgets.iter().find(|b| b.agent_id.is_none()).map(|b| b.monthly_limit.credits.clone());
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="budgets-heading">
            <h2 id="budgets-heading" class="text-base font-semibold text-slate-900">"Budgets"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "A monthly budget stops metered work once it is spent. Alerts arrive in notifications at 50, 80 and 100 %."
            </p>
            {if budgets.is_empty() {
                view! { <p class="mt-3 text-sm text-slate-700">"No budgets: usage is limited by credits only."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 space-y-3" aria-label="Budgets">
                        {budgets.into_iter().map(|b| {
                            let pct = percent(b.spent.credit_microunits, b.monthly_limit.credit_microunits);
                            let who = b.agent_id.map_or_else(|| "Whole organization".to_string(), |id| format!("Agent {id}"));
                            let alerted = if b.alerted.is_empty() {
                                "no alerts yet this month".to_string()
                            } else {
                                format!("alerted at {} %", b.alerted.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
                            };
                            view! {
                                <li class="text-sm">
                                    <div class="flex flex-wrap justify-between gap-2">
                                        <span class="font-medium text-slate-900">{who}</span>
                                        <span class="text-slate-800">{format!("{} of {} credits ({pct} %) · {alerted}", b.spent.credits, b.monthly_limit.credits)}</span>
                                    </div>
                                    // An SVG width, not a `style` attribute: the CSP
                                    // allows no inline styles.
                                    <svg class="mt-1 block h-2 w-full rounded bg-slate-100" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct.to_string()>
                                        <rect class=bar_class(pct) width=format!("{}%", pct.min(100)) height="100%" rx="4"></rect>
                                    </svg>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {may_manage.then(|| view! {
                <ActionForm action=budget attr:class="mt-4 flex flex-wrap items-end gap-3">
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <div class="w-72">
                        <label for="field-monthly_credits" class="block text-sm font-medium text-slate-800">"Organization budget (credits a month)"</label>
                        <input id="field-monthly_credits" name="monthly_credits" inputmode="decimal" class=INPUT value=org_budget.clone().unwrap_or_default() placeholder="No budget" aria-describedby="budget-hint"/>
                    </div>
                    <button type="submit" class=BUTTON>"Save budget"</button>
                    <p id="budget-hint" class="w-full text-xs text-slate-600">"Leave it empty to remove the budget. Changing it asks you to confirm it is you. Agent budgets are set through the API."</p>
                </ActionForm>
                <div class="mt-3"><FormError error/></div>
            })}
        </section>
    }
}

/// What a top-up asks for: a credit pack or an amount in cents.
#[derive(Clone, PartialEq)]
enum Choice {
    Pack(String),
    Amount(i64),
}

#[component]
fn BuyCredits(payments: Option<PaymentsConfig>, packs: Vec<CreditPackView>, may_manage: bool) -> impl IntoView {
    let Some(payments) = payments else {
        return view! {
            <section id="buy" class=format!("{CARD} mt-6") aria-labelledby="buy-heading">
                <h2 id="buy-heading" class="text-base font-semibold text-slate-900">"Buy credits"</h2>
                <p class="mt-1 text-sm text-slate-700" data-testid="payments-not-configured">
                    "Online payments are not configured on this server. An operator can add credits with "
                    <code class="font-mono text-slate-900">"alumia admin grant-credits"</code>"."
                </p>
            </section>
        }
        .into_any();
    };
    if !may_manage {
        return view! {
            <section id="buy" class=format!("{CARD} mt-6") aria-labelledby="buy-heading">
                <h2 id="buy-heading" class="text-base font-semibold text-slate-900">"Buy credits"</h2>
                <p class="mt-1 text-sm text-slate-700">"Owners and admins of this organization buy credits."</p>
            </section>
        }
        .into_any();
    }
    let slug = use_org_slug();
    let status = RwSignal::new(None::<Result<String, String>>);
    let mounted = RwSignal::new(false);
    let busy = RwSignal::new(false);
    // One idempotency key per choice: asking twice for the same top-up
    // (a double click, a retry) reuses its PaymentIntent.
    let keys = StoredValue::new(Vec::<(Choice, String)>::new());
    let key_for = move |choice: &Choice| {
        keys.try_update_value(|keys| match keys.iter().find(|(c, _)| c == choice) {
            Some((_, key)) => key.clone(),
            None => {
                let key = uuid::Uuid::new_v4().to_string();
                keys.push((choice.clone(), key.clone()));
                key
            }
        })
        .unwrap_or_default()
    };
    let payments = StoredValue::new(payments);
    let start = move |choice: Choice| {
        let input = TopUpInput {
            amount_cents: match &choice {
                Choice::Amount(cents) => Some(*cents),
                Choice::Pack(_) => None,
            },
            credit_pack_id: match &choice {
                Choice::Pack(id) => Some(id.clone()),
                Choice::Amount(_) => None,
            },
            idempotency_key: key_for(&choice),
        };
        busy.set(true);
        status.set(None);
        let org = slug.get_untracked();
        leptos::task::spawn_local(async move {
            let result = match create_top_up(org, input).await {
                Ok(intent) => {
                    let p = payments.get_value();
                    payments_glue::mount(&p.js_url, &p.publishable_key, &intent.client_secret, "payment-element")
                        .await
                        .map(|()| {
                            format!(
                                "Pay {} for {} credits below.",
                                dollars(intent.amount_cents),
                                intent.credits.credits
                            )
                        })
                }
                Err(e) => Err(e.message),
            };
            mounted.set(result.is_ok());
            status.set(Some(result));
            busy.set(false);
        });
    };
    let pay = move |_| {
        busy.set(true);
        let back = format!("{}/{}/billing", window_origin(), slug.get_untracked());
        leptos::task::spawn_local(async move {
            let result = payments_glue::confirm(&back).await.map(|state| match state.as_str() {
                "succeeded" | "processing" => {
                    "Payment received. Your credits appear as soon as Stripe confirms it: reload this page in a moment."
                        .to_string()
                }
                other => format!("The payment is {}.", other.replace('_', " ")),
            });
            if result.is_ok() {
                // Paid: the next purchase, even of the same pack, is a new
                // PaymentIntent.
                mounted.set(false);
                keys.set_value(Vec::new());
            }
            status.set(Some(result));
            busy.set(false);
        });
    };
    let amount = NodeRef::<leptos::html::Input>::new();
    view! {
        <section id="buy" class=format!("{CARD} mt-6") aria-labelledby="buy-heading">
            <h2 id="buy-heading" class="text-base font-semibold text-slate-900">"Buy credits"</h2>
            <p class="mt-1 text-sm text-slate-700">"Purchased credits never expire. Card details go straight to Stripe."</p>
            <div class="mt-4 flex flex-wrap gap-3">
                {packs.into_iter().map(|p| {
                    let id = p.id.clone();
                    view! {
                        <button type="button" class=BUTTON_SECONDARY disabled=move || busy.get() on:click=move |_| start(Choice::Pack(id.clone()))>
                            {format!("{} credits · {}", p.credits.credits, dollars(p.amount_cents))}
                        </button>
                    }
                }).collect_view()}
            </div>
            <form class="mt-4 flex flex-wrap items-end gap-3" on:submit=move |ev| {
                ev.prevent_default();
                let cents = amount.get().and_then(|i| i.value().trim().parse::<f64>().ok()).map(|d| (d * 100.0).round() as i64);
                let (min, max) = payments.with_value(|p| (p.min_top_up_cents, p.max_top_up_cents));
                match cents {
                    Some(cents) if (min..=max).contains(&cents) => start(Choice::Amount(cents)),
                    _ => status.set(Some(Err(format!("Give an amount in dollars from {} to {}.", dollars(min), dollars(max))))),
                }
            }>
                <div class="w-40">
                    <label for="top-up-amount" class="block text-sm font-medium text-slate-800">"Other amount (USD)"</label>
                    <input id="top-up-amount" node_ref=amount inputmode="decimal" class=INPUT placeholder="25"/>
                </div>
                <button type="submit" class=BUTTON_SECONDARY disabled=move || busy.get()>"Continue"</button>
            </form>
            {move || status.get().map(|s| match s {
                Ok(text) => view! { <p role="status" class="mt-4 text-sm text-slate-800">{text}</p> }.into_any(),
                Err(text) => view! { <p role="alert" class="mt-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">{text}</p> }.into_any(),
            })}
            <div id="payment-element" class="mt-4 max-w-md" data-testid="payment-element"></div>
            {move || mounted.get().then(|| view! {
                <button type="button" class=format!("{BUTTON} mt-4") disabled=move || busy.get() on:click=pay>"Pay"</button>
            })}
        </section>
    }
    .into_any()
}

fn window_origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window().location().origin().unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

fn dollars(cents: i64) -> String {
    if cents % 100 == 0 {
        format!("${}", cents / 100)
    } else {
        format!("${}.{:02}", cents / 100, cents % 100)
    }
}

fn package_class(current: bool) -> &'static str {
    if current {
        "rounded-md border-2 border-indigo-600 p-4"
    } else {
        "rounded-md border border-slate-200 p-4"
    }
}

#[component]
fn PackagesCard(packages: Vec<PackageView>, current: String, may_manage: bool) -> impl IntoView {
    let slug = use_org_slug();
    let checkout = ServerAction::<StartCheckout>::new();
    let error = action_error(checkout);
    // Stripe Checkout takes over from here.
    Effect::new(move |_| {
        if let Some(Ok(url)) = checkout.value().get() {
            #[cfg(feature = "hydrate")]
            let _ = leptos::prelude::window().location().set_href(&url);
            #[cfg(not(feature = "hydrate"))]
            let _ = url;
        }
    });
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="packages-heading">
            <h2 id="packages-heading" class="text-base font-semibold text-slate-900">"Packages"</h2>
            <div class="mt-3"><FormError error/></div>
            <ul class="mt-3 grid gap-3 sm:grid-cols-3" aria-label="Packages">
                {packages.into_iter().map(|p| {
                    let is_current = p.id == current;
                    let id = p.id.clone();
                    view! {
                        <li class=package_class(is_current)>
                            <p class="font-semibold text-slate-900">{p.name.clone()}</p>
                            <p class="text-sm text-slate-700">{format!("{} credits a month · {} agents", format_credits(&p.monthly_grant.credits), cap(p.max_agents))}</p>
                            {if is_current {
                                view! { <p class="mt-2 text-sm font-medium text-indigo-800">"Your package"</p> }.into_any()
                            } else if may_manage && p.purchasable {
                                view! {
                                    <ActionForm action=checkout attr:class="mt-2">
                                        <input type="hidden" name="org" value=move || slug.get()/>
                                        <input type="hidden" name="package_id" value=id/>
                                        <button type="submit" class=BUTTON_SECONDARY>{format!("Change to {}", p.name)}</button>
                                    </ActionForm>
                                }.into_any()
                            } else {
                                view! { <p class="mt-2 text-xs text-slate-600">"Ask your operator to switch you to it."</p> }.into_any()
                            }}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn InvoicesCard(invoices: Vec<InvoiceView>, error: Option<String>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="invoices-heading">
            <h2 id="invoices-heading" class="text-base font-semibold text-slate-900">"Invoices and receipts"</h2>
            {error.map(|e| view! { <p role="alert" class="mt-2 text-sm text-red-800">{e}</p> })}
            {if invoices.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-700">"None yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 text-sm" aria-label="Invoices">
                        {invoices.into_iter().map(|i| view! {
                            <li class="flex flex-wrap justify-between gap-2 py-2">
                                <span class="text-slate-800"><UtcTime iso=i.created_at/>" · "{i.number.unwrap_or(i.id)}</span>
                                <span class="text-slate-900">
                                    {format!("{} {} · {}", dollars(i.amount_cents), i.currency.to_uppercase(), i.status.unwrap_or_default())}
                                    {i.url.map(|u| view! { <a href=u rel="external noopener" target="_blank" class=format!("ml-2 {LINK}")>"View"</a> })}
                                </span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn LedgerCard(entries: Vec<LedgerEntryView>) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="ledger-heading">
            <h2 id="ledger-heading" class="text-base font-semibold text-slate-900">"Recent changes"</h2>
            {if entries.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-700">"Nothing yet."</p> }.into_any()
            } else {
                view! {
                    <div class="mt-3 overflow-x-auto">
                        <table class="w-full text-left text-sm">
                            <thead class="text-slate-600">
                                <tr><th scope="col" class="py-2 pr-4 font-medium">"When"</th><th scope="col" class="py-2 pr-4 font-medium">"What"</th><th scope="col" class="py-2 pr-4 font-medium">"Credits"</th><th scope="col" class="py-2 font-medium">"Reference"</th></tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                {entries.into_iter().map(|e| view! {
                                    <tr>
                                        <td class="py-2 pr-4 whitespace-nowrap"><UtcTime iso=e.created_at/></td>
                                        <td class="py-2 pr-4">{e.kind.replace('_', " ")}{e.reason.map(|r| format!(" ({r})"))}</td>
                                        <td class="py-2 pr-4 font-mono">{e.amount.credits}</td>
                                        <td class="py-2 font-mono text-xs text-slate-600 break-all">{e.reference}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// Micro-credits as credits, without trailing zeros: `1500000` is `1.5`.
/// Integer formatting: float formatting would add its tables and code to
/// the wasm for this one line (docs/wasm-size.md).
fn trim(microunits: i64) -> String {
    let sign = if microunits < 0 { "-" } else { "" };
    let (whole, fraction) = (microunits.unsigned_abs() / 1_000_000, microunits.unsigned_abs() % 1_000_000);
    let fraction = format!("{fraction:06}");
    match fraction.trim_end_matches('0') {
        "" => format!("{sign}{whole}"),
        digits => format!("{sign}{whole}.{digits}"),
    }
}

/// `v` with one decimal (`12.5`), formatted as integers for the same reason.
/// `v` with one decimal, written straight into `out`: the chart writes four
/// numbers a day, and a `format!` for each was most of the billing page's
/// render (callgrind: about 5,000 instructions a day, 30 days a render).
fn push_tenths(out: &mut String, v: f64) {
    let t = (v * 10.0).round() as i64;
    if t < 0 {
        out.push('-');
    }
    let t = t.unsigned_abs();
    push_digits(out, t / 10, 1);
    out.push('.');
    push_digits(out, t % 10, 1);
}

/// Bars for each day, scaled to the busiest one; rendered on the server,
/// readable by screen readers through its title and each bar's title.
fn usage_chart(days: &[DailyUsage]) -> String {
    const WIDTH: usize = 600;
    const HEIGHT: usize = 120;
    let max = days.iter().map(|d| d.used.credit_microunits).max().unwrap_or(0).max(1) as f64;
    let slot = WIDTH as f64 / days.len().max(1) as f64;
    let mut bars = String::with_capacity(days.len() * 140);
    for (i, d) in days.iter().enumerate() {
        let h = (d.used.credit_microunits as f64 / max * (HEIGHT - 20) as f64)
            .round()
            .max(if d.used.credit_microunits > 0 { 2.0 } else { 0.0 });
        bars.push_str(r#"<rect x=""#);
        push_tenths(&mut bars, i as f64 * slot + 1.0);
        bars.push_str(r#"" y=""#);
        push_tenths(&mut bars, (HEIGHT - 16) as f64 - h);
        bars.push_str(r#"" width=""#);
        push_tenths(&mut bars, (slot - 2.0).max(1.0));
        bars.push_str(r#"" height=""#);
        push_tenths(&mut bars, h);
        bars.push_str(r##"" rx="2" fill="#4338ca"><title>"##);
        bars.push_str(&d.date);
        bars.push_str(": ");
        bars.push_str(&d.used.credits);
        bars.push_str(" credits</title></rect>");
    }
    let first = days.first().map(|d| d.date.as_str()).unwrap_or_default();
    let last = days.last().map(|d| d.date.as_str()).unwrap_or_default();
    format!(
        r##"<svg role="img" aria-labelledby="usage-chart-title" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title id="usage-chart-title">Credits used per day from {first} to {last}</title><line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#cbd5e1"/>{bars}<text x="0" y="{label}" font-size="11" fill="#475569">{first}</text><text x="{WIDTH}" y="{label}" font-size="11" fill="#475569" text-anchor="end">{last}</text></svg>"##,
        base = HEIGHT - 16,
        label = HEIGHT - 2,
    )
}

#[cfg(test)]
mod tests {
    use super::{push_tenths, trim};

    fn tenths(v: f64) -> String {
        let mut shown = String::new();
        push_tenths(&mut shown, v);
        shown
    }

    #[test]
    fn trim_shows_micro_credits_as_credits() {
        assert_eq!(trim(0), "0");
        assert_eq!(trim(1), "0.000001");
        assert_eq!(trim(1_500_000), "1.5");
        assert_eq!(trim(2_000_000), "2");
        assert_eq!(trim(123_456_789), "123.456789");
        assert_eq!(trim(-1_500_000), "-1.5");
    }

    #[test]
    fn tenths_has_one_decimal() {
        assert_eq!(tenths(4.0), "4.0");
        assert_eq!(tenths(37.5), "37.5");
        assert_eq!(tenths(19.75), "19.8");
        assert_eq!(tenths(0.04), "0.0");
        assert_eq!(tenths(-2.5), "-2.5");
        assert_eq!(tenths(1234.56), "1234.6");
        assert_eq!(tenths(-0.04), "0.0");
    }
}
