//! The projects page's "Shared links": every live share link of the org
//! (its project, who shared it, when, views, expiry), each revocable from
//! here. Revoking asks for a step-up, as sharing does. Enabling a link is
//! the canvas toolbar's (it shows the link once).

use leptos::prelude::*;

use crate::api::canvas::{list_share_links, RevokeShareLink};
use crate::components::forms::{action_error, loaded, FormError, BUTTON_DANGER, CARD};
use crate::components::layout::use_org_slug;
use crate::components::resource::page_resource;
use crate::components::suspend::suspend;
use crate::components::time::UtcTime;
use crate::model::ShareLinkView;

const TH: &str = "py-2 pr-4 font-medium";
const TD: &str = "py-2 pr-4 align-middle";

#[component]
pub fn SharedLinksSection() -> impl IntoView {
    let slug = use_org_slug();
    let revoke = ServerAction::<RevokeShareLink>::new();
    let links = page_resource(move || (slug.get(), revoke.version().get()), |(org, _)| list_share_links(org));
    let revoke_error = action_error(revoke);
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="shared-links-heading" data-testid="shared-links">
            <h2 id="shared-links-heading" class="text-base font-semibold text-slate-900">"Shared links"</h2>
            <p class="mt-1 text-sm text-slate-700">
                "Canvases anyone holding the link can read, without signing in. Share one from its project's canvas; revoke any of them here."
            </p>
            <div class="mt-3"><FormError error=revoke_error/></div>
            <Transition fallback=|| view! { <p class="mt-3 text-sm text-slate-600">"Loading…"</p> }>
                {move || suspend(async move {
                    loaded(links.await, move |page| {
                        if page.items.is_empty() {
                            return view! { <p class="mt-2 text-sm text-slate-700" data-testid="no-shared-links">"No canvas is shared."</p> }.into_any();
                        }
                        let more = page.has_more.then(|| view! {
                            <p class="mt-3 text-sm text-slate-600">"Showing the newest "{page.items.len()}"; the API lists them all."</p>
                        });
                        view! {
                            <div class="mt-3 overflow-x-auto">
                                <table class="w-full text-left text-sm">
                                    <thead class="text-slate-600">
                                        <tr>
                                            <th scope="col" class=TH>"Project"</th>
                                            <th scope="col" class=TH>"Shared by"</th>
                                            <th scope="col" class=TH>"Created"</th>
                                            <th scope="col" class=TH>"Views"</th>
                                            <th scope="col" class=TH>"Expires"</th>
                                            <th scope="col" class="py-2 font-medium"><span class="sr-only">"Revoke"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {page.items.into_iter().map(|link| view! { <LinkRow link=link revoke=revoke/> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {more}
                        }
                        .into_any()
                    })
                })}
            </Transition>
        </section>
    }
}

#[component]
fn LinkRow(link: ShareLinkView, revoke: ServerAction<RevokeShareLink>) -> impl IntoView {
    let slug = use_org_slug();
    let lab = format!("/{}/projects/{}", slug.get_untracked(), link.project_slug);
    let by = link.created_by_email.clone().unwrap_or_else(|| "A former member".to_string());
    let label = format!("Revoke the link to {}", link.project_name);
    view! {
        <tr data-testid="shared-link">
            <td class=TD><a class="font-medium text-indigo-700 hover:underline" href=lab>{link.project_name.clone()}</a></td>
            <td class=format!("{TD} break-all")>{by}</td>
            <td class=format!("{TD} whitespace-nowrap")><UtcTime iso=link.created_at.clone()/></td>
            <td class=TD data-testid="shared-link-views">{link.views}</td>
            <td class=format!("{TD} whitespace-nowrap")>
                {match link.expires_at.clone() {
                    Some(at) => view! { <UtcTime iso=at/> }.into_any(),
                    None => view! { <span class="text-slate-600">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="py-2 text-right">
                <ActionForm action=revoke>
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <input type="hidden" name="id" value=link.id.to_string()/>
                    <button type="submit" class=BUTTON_DANGER aria-label=label>"Revoke"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
