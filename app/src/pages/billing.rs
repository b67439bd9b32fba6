//! `/<orgSlug>/billing`: credits by bucket, usage over the last 30 days
//! (a server-rendered SVG chart), recent ledger entries, and how to get
//! more credits.

use leptos::prelude::*;

use crate::api::billing::get_billing_page;
use crate::components::forms::{loaded, CARD};
use crate::components::layout::{use_org_slug, PageHeader};
use crate::components::time::UtcTime;
use crate::model::{BillingPageData, DailyUsage};

#[component]
pub fn BillingPage() -> impl IntoView {
    let slug = use_org_slug();
    let data = Resource::new(move || slug.get(), get_billing_page);
    view! {
        <PageHeader title="Billing" intro="Credits, usage and where they went."/>
        <Suspense fallback=|| view! { <p class="text-sm text-slate-600">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(data.await, |d| view! { <BillingView data=d/> }) })}
        </Suspense>
    }
}

fn bucket_label(kind: &str) -> &'static str {
    match kind {
        "grant" => "Monthly grant",
        _ => "Credits that do not expire",
    }
}

#[component]
fn BillingView(data: BillingPageData) -> impl IntoView {
    let used: f64 = data.usage.iter().map(|d| d.used.credit_microunits as f64).sum::<f64>() / 1_000_000.0;
    view! {
        <section class=CARD aria-labelledby="balance-heading">
            <h2 id="balance-heading" class="text-base font-semibold text-slate-900">"Balance"</h2>
            <p class="mt-2 text-3xl font-bold text-slate-900" data-testid="balance">
                {data.summary.balance.credits.clone()}<span class="ml-2 text-base font-medium text-slate-600">"credits"</span>
            </p>
            {if data.summary.buckets.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-700">"No credits yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 text-sm" aria-label="Credit buckets">
                        {data.summary.buckets.into_iter().map(|b| view! {
                            <li class="flex flex-wrap justify-between gap-2 py-2">
                                <span class="text-slate-800">{bucket_label(&b.kind)}" · added "<UtcTime iso=b.created_at/></span>
                                <span class="font-medium text-slate-900">
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

        <section class=format!("{CARD} mt-6") aria-labelledby="usage-heading">
            <h2 id="usage-heading" class="text-base font-semibold text-slate-900">"Usage, last 30 days"</h2>
            <p class="mt-1 text-sm text-slate-700">{format!("{} credits used.", trim(used))}</p>
            <div class="mt-3 overflow-x-auto" inner_html=usage_chart(&data.usage)></div>
        </section>

        <section class=format!("{CARD} mt-6") aria-labelledby="buy-heading">
            <h2 id="buy-heading" class="text-base font-semibold text-slate-900">"Buy credits"</h2>
            {if data.payments_configured {
                view! { <p class="mt-1 text-sm text-slate-700">"Top-ups are added as soon as the payment succeeds."</p> }.into_any()
            } else {
                view! {
                    <p class="mt-1 text-sm text-slate-700">
                        "Online payments are not configured on this server. An operator can add credits with "
                        <code class="font-mono text-slate-900">"alumia admin grant-credits"</code>"."
                    </p>
                }.into_any()
            }}
        </section>

        <section class=format!("{CARD} mt-6") aria-labelledby="ledger-heading">
            <h2 id="ledger-heading" class="text-base font-semibold text-slate-900">"Recent changes"</h2>
            {if data.recent.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-700">"Nothing yet."</p> }.into_any()
            } else {
                view! {
                    <div class="mt-3 overflow-x-auto">
                        <table class="w-full text-left text-sm">
                            <thead class="text-slate-600">
                                <tr><th scope="col" class="py-2 pr-4 font-medium">"When"</th><th scope="col" class="py-2 pr-4 font-medium">"What"</th><th scope="col" class="py-2 pr-4 font-medium">"Credits"</th><th scope="col" class="py-2 font-medium">"Reference"</th></tr>
                            </thead>
                            <tbody class="divide-y divide-slate-100">
                                {data.recent.into_iter().map(|e| view! {
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

fn trim(credits: f64) -> String {
    let text = format!("{credits:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Bars for each day, scaled to the busiest one; rendered on the server,
/// readable by screen readers through its title and each bar's title.
fn usage_chart(days: &[DailyUsage]) -> String {
    const WIDTH: usize = 600;
    const HEIGHT: usize = 120;
    let max = days.iter().map(|d| d.used.credit_microunits).max().unwrap_or(0).max(1) as f64;
    let slot = WIDTH as f64 / days.len().max(1) as f64;
    let bars: String = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = (d.used.credit_microunits as f64 / max * (HEIGHT - 20) as f64).round().max(if d.used.credit_microunits > 0 { 2.0 } else { 0.0 });
            format!(
                r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="2" fill="#4338ca"><title>{date}: {used} credits</title></rect>"##,
                x = i as f64 * slot + 1.0,
                y = (HEIGHT - 16) as f64 - h,
                w = (slot - 2.0).max(1.0),
                date = d.date,
                used = d.used.credits,
            )
        })
        .collect();
    let first = days.first().map(|d| d.date.as_str()).unwrap_or_default();
    let last = days.last().map(|d| d.date.as_str()).unwrap_or_default();
    format!(
        r##"<svg role="img" aria-labelledby="usage-chart-title" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title id="usage-chart-title">Credits used per day from {first} to {last}</title><line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#cbd5e1"/>{bars}<text x="0" y="{label}" font-size="11" fill="#475569">{first}</text><text x="{WIDTH}" y="{label}" font-size="11" fill="#475569" text-anchor="end">{last}</text></svg>"##,
        base = HEIGHT - 16,
        label = HEIGHT - 2,
    )
}
