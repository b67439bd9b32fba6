//! The lab's canvas (SPEC §15): the project's blocks where they were put,
//! each with who wrote it; add a markdown, code or HTML block; and the
//! Share toolbar (a new link, shown once; stop sharing). The blocks
//! themselves (moving, resizing, editing in place) are `board`'s. Every
//! form works without JavaScript; sharing asks for a step-up first.

mod board;
mod share_links;

pub use share_links::SharedLinksSection;

use leptos::prelude::*;

use crate::api::canvas::{AddBlock, DeleteBlock, ShareCanvas, StopSharing, UpdateBlock};
use crate::api::files::DeleteFile;
use crate::components::forms::{action_error, loaded, FormError, BUTTON, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::layout::use_org_slug;
use crate::components::resource::PageResource;
use crate::components::suspend::suspend;
use crate::model::{AppError, CanvasView};
use crate::pages::files::FilesSection;

/// The canvas's actions, made by the page (their versions key its data).
#[derive(Clone, Copy)]
pub struct CanvasActions {
    pub add: ServerAction<AddBlock>,
    /// The no-script form's (content and place by numbers).
    pub update: ServerAction<UpdateBlock>,
    pub delete: ServerAction<DeleteBlock>,
    pub share: ServerAction<ShareCanvas>,
    pub stop: ServerAction<StopSharing>,
    /// The files section's (the list comes with the canvas).
    pub delete_file: ServerAction<DeleteFile>,
    /// Bumped when a change made by script has been stored: an upload with
    /// progress, a block edited in place. (A block moved or resized is not
    /// read again: the page already shows where it went.)
    pub changed: RwSignal<usize>,
}

impl CanvasActions {
    pub fn new() -> CanvasActions {
        CanvasActions {
            add: ServerAction::new(),
            update: ServerAction::new(),
            delete: ServerAction::new(),
            share: ServerAction::new(),
            stop: ServerAction::new(),
            delete_file: ServerAction::new(),
            changed: RwSignal::new(0),
        }
    }

    /// Changes whenever any of them completes.
    pub fn version(&self) -> usize {
        self.add.version().get()
            + self.update.version().get()
            + self.delete.version().get()
            + self.share.version().get()
            + self.stop.version().get()
            + self.delete_file.version().get()
            + self.changed.get()
    }
}

impl Default for CanvasActions {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn CanvasSection(canvas: PageResource<Result<CanvasView, AppError>>, actions: CanvasActions) -> impl IntoView {
    let slug = use_org_slug();
    let add_error = action_error(actions.add);
    let change_error = action_error(actions.update);
    let delete_error = action_error(actions.delete);
    let share_error = action_error(actions.share);
    let stop_error = action_error(actions.stop);
    // Set once the page runs script in the browser: the board then places
    // blocks itself and offers moving, resizing and editing in place. The
    // server's markup (and a page without script) has the forms instead.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    view! {
        <section class=format!("{CARD} min-w-0") aria-labelledby="canvas-heading" data-testid="canvas">
            // Not a Transition: keeping the old blocks on screen while the
            // canvas is read again swaps each HTML block's frame for a new
            // one in a single step, which Playwright's frame tracking does
            // not survive (an "Assertion error" in 3 runs of 4). Moves and
            // resizes do not read the canvas again, so they do not flash.
            <Suspense fallback=|| view! { <p class="text-sm text-slate-600">"Loading the canvas…"</p> }>
                {move || suspend(async move {
                    loaded(canvas.await, move |c| {
                        let project = c.project_id.to_string();
                        let blocks = c.blocks.clone();
                        let files = c.files.clone();
                        let files_project = project.clone();
                        view! {
                            <div class="flex flex-wrap items-start justify-between gap-3">
                                <div>
                                    <h2 id="canvas-heading" class="text-base font-semibold text-slate-900">"Canvas"</h2>
                                    <p class="mt-1 text-sm text-slate-700">"Notes, code and pages for this project, by people and agents (agents write with the canvas tools)."</p>
                                    {move || live.get().then(|| view! {
                                        <p class="mt-1 text-xs text-slate-600">"Drag a block by its title bar and resize it by its corner (or focus either and use the arrow keys)."</p>
                                    })}
                                </div>
                                <ShareToolbar canvas=c.clone() actions=actions/>
                            </div>
                            <div class="mt-2 space-y-2">
                                <FormError error=share_error/>
                                <FormError error=stop_error/>
                                <FormError error=change_error/>
                                <FormError error=delete_error/>
                            </div>
                            {if blocks.is_empty() {
                                view! { <p class="mt-4 text-sm text-slate-600" data-testid="canvas-empty">"The canvas is empty: add a block below, or ask an agent to write one."</p> }.into_any()
                            } else {
                                view! { <board::Board blocks=blocks project=c.project_id actions=actions live=live/> }.into_any()
                            }}
                            <details class="mt-4 rounded-md border border-slate-200 p-3">
                                <summary class="cursor-pointer text-sm font-medium text-indigo-700">"Add a block"</summary>
                                <ActionForm action=actions.add attr:class="mt-3 space-y-2">
                                    <FormError error=add_error/>
                                    <input type="hidden" name="org" value=move || slug.get()/>
                                    <input type="hidden" name="project" value=project.clone()/>
                                    <label for="block-kind" class="block text-sm font-medium text-slate-800">"Kind"</label>
                                    <select id="block-kind" name="kind" class=INPUT>
                                        <option value="markdown">"Markdown"</option>
                                        <option value="code">"Code"</option>
                                        <option value="html">"HTML page (shown in a sandbox)"</option>
                                    </select>
                                    <label for="block-content" class="block text-sm font-medium text-slate-800">"Block content"</label>
                                    <textarea id="block-content" name="content" rows="6" class=format!("{INPUT} font-mono") required=true></textarea>
                                    <button type="submit" class=BUTTON>"Add block"</button>
                                </ActionForm>
                            </details>
                            <FilesSection files=files project=files_project delete=actions.delete_file add_block=actions.add uploads=actions.changed/>
                        }
                    })
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ShareToolbar(canvas: CanvasView, actions: CanvasActions) -> impl IntoView {
    let slug = use_org_slug();
    let project = canvas.project_id.to_string();
    let minted = move || actions.share.value().get().and_then(Result::ok);
    match canvas.share {
        Some(link) => {
            let since = link.created_at.get(..10).unwrap_or_default().to_string();
            let expiry = link.expires_at.as_ref().map(|e| format!(", until {}", e.get(..10).unwrap_or_default()));
            view! {
                <div class="text-right" data-testid="share-on">
                    <p class="text-sm text-slate-800">
                        {format!("Shared since {since}{} · {} views", expiry.unwrap_or_default(), link.views)}
                    </p>
                    {move || minted().map(|m| view! {
                        <label class="mt-1 block text-left text-xs text-slate-700">"The link (shown once; copy it now)"
                            <input class=INPUT readonly=true value=m.url data-testid="share-url"/>
                        </label>
                    })}
                    <ActionForm action=actions.stop attr:class="mt-2">
                        <input type="hidden" name="org" value=move || slug.get()/>
                        <input type="hidden" name="project" value=project.clone()/>
                        <button type="submit" class=BUTTON_SECONDARY>"Stop sharing"</button>
                    </ActionForm>
                </div>
            }
            .into_any()
        }
        None => view! {
            <ActionForm action=actions.share attr:class="flex flex-wrap items-end gap-2" attr:data-testid="share-off">
                <input type="hidden" name="org" value=move || slug.get()/>
                <input type="hidden" name="project" value=project.clone()/>
                <label class="text-xs text-slate-700">"Expires after (days, optional)"
                    <input name="expires_in_days" type="number" min="1" max="365" class=format!("{INPUT} w-28")/>
                </label>
                <button type="submit" class=BUTTON>"Share"</button>
            </ActionForm>
        }
        .into_any(),
    }
}
