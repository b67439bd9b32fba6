//! The lab's canvas (SPEC §15): the project's blocks in reading order
//! (top to bottom, then left to right; a wide block spans the row), each
//! with who wrote it; add a markdown, code or HTML block; edit a block's
//! content and place; delete it; and the Share toolbar (a new link, shown
//! once; stop sharing). HTML blocks show in a sandboxed frame. Every form
//! works without JavaScript; sharing asks for a step-up first.

use leptos::prelude::*;

use crate::api::canvas::{AddBlock, DeleteBlock, ShareCanvas, StopSharing, UpdateBlock};
use crate::api::files::DeleteFile;
use crate::components::forms::{action_error, loaded, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD, INPUT};
use crate::components::layout::use_org_slug;
use crate::model::{AppError, CanvasBlockView, CanvasView};
use crate::pages::files::{download_href, human_size, FilesSection};

/// The canvas's actions, made by the page (their versions key its data).
#[derive(Clone, Copy)]
pub struct CanvasActions {
    pub add: ServerAction<AddBlock>,
    pub update: ServerAction<UpdateBlock>,
    pub delete: ServerAction<DeleteBlock>,
    pub share: ServerAction<ShareCanvas>,
    pub stop: ServerAction<StopSharing>,
    /// The files section's (the list comes with the canvas).
    pub delete_file: ServerAction<DeleteFile>,
    /// Bumped when an upload with progress (script) has finished.
    pub uploads: RwSignal<usize>,
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
            uploads: RwSignal::new(0),
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
            + self.uploads.get()
    }
}

impl Default for CanvasActions {
    fn default() -> Self {
        Self::new()
    }
}

/// A block this wide or wider takes the whole row.
const WIDE: i64 = 640;

#[component]
pub fn CanvasSection(canvas: Resource<Result<CanvasView, AppError>>, actions: CanvasActions) -> impl IntoView {
    let slug = use_org_slug();
    let add_error = action_error(actions.add);
    let change_error = action_error(actions.update);
    let delete_error = action_error(actions.delete);
    let share_error = action_error(actions.share);
    let stop_error = action_error(actions.stop);
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="canvas-heading" data-testid="canvas">
            <Suspense fallback=|| view! { <p class="text-sm text-slate-600">"Loading the canvas…"</p> }>
                {move || Suspend::new(async move {
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
                                view! {
                                    <div class="mt-4 grid gap-4 lg:grid-cols-2" data-testid="blocks">
                                        {blocks.into_iter().map(|b| view! { <BlockCard b=b project=project.clone() actions=actions/> }).collect_view()}
                                    </div>
                                }.into_any()
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
                            <FilesSection files=files project=files_project delete=actions.delete_file add_block=actions.add uploads=actions.uploads/>
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

#[component]
fn BlockCard(b: CanvasBlockView, project: String, actions: CanvasActions) -> impl IntoView {
    let slug = use_org_slug();
    let block = b.block.clone();
    let id = block.id.to_string();
    let wide = if block.position.w >= WIDE { " lg:col-span-2" } else { "" };
    let author = match (block.created_by.kind.as_str(), &block.created_by.name) {
        ("agent", Some(name)) => format!("Written by the agent {name}"),
        ("agent", None) => "Written by an agent".to_string(),
        _ => "Written by a member".to_string(),
    };
    let kind_label = match block.kind.as_str() {
        "markdown" => "Markdown",
        "code" => "Code",
        "html" => "HTML",
        "file" => "File",
        _ => "Session",
    };
    let body = match block.kind.as_str() {
        "markdown" => view! { <div class="prose-block max-h-96 overflow-auto text-sm text-slate-900" inner_html=b.html.clone().unwrap_or_default()></div> }.into_any(),
        "code" => view! { <pre class="max-h-96 overflow-auto rounded bg-slate-50 p-3 text-xs text-slate-900"><code>{block.content.clone()}</code></pre> }.into_any(),
        "html" => view! {
            <iframe sandbox="allow-scripts" referrerpolicy="no-referrer" title="HTML block"
                class="w-full rounded border border-slate-200" height=block.position.h.to_string() src=b.frame.clone().unwrap_or_default()></iframe>
        }.into_any(),
        "session" => {
            let href = format!("?session={}", block.content);
            let title = b.session_title.clone().unwrap_or_else(|| "A session".into());
            view! { <p class="text-sm">"Chat session: "<a class="font-medium text-indigo-700 hover:underline" href=href>{title}</a></p> }.into_any()
        }
        _ => match b.file.clone() {
            Some(file) => {
                let image = file.content_type.starts_with("image/") && !file.content_type.starts_with("image/svg");
                let inline = format!("/api/v1/files/{}?inline=true&org={}", file.id, slug.get_untracked());
                let href = download_href(&slug.get_untracked(), &file);
                let detail = format!("{} · {}", human_size(file.size_bytes), file.content_type);
                view! {
                    <div class="text-sm" data-testid="file-block">
                        {image.then(|| view! { <img src=inline alt=file.name.clone() class="mb-2 max-h-80 rounded border border-slate-200"/> })}
                        <a class="font-medium text-indigo-700 hover:underline" href=href rel="external">{file.name.clone()}</a>
                        <p class="text-xs text-slate-600">{detail}</p>
                    </div>
                }.into_any()
            }
            None => view! { <p class="text-sm text-slate-600">"This block's file was deleted."</p> }.into_any(),
        },
    };
    let editable = matches!(block.kind.as_str(), "markdown" | "code" | "html");
    let p = block.position;
    let (project_edit, id_edit) = (project.clone(), id.clone());
    view! {
        <article class=format!("rounded-md border border-slate-200 p-4{wide}") data-testid="block" data-kind=block.kind.clone()>
            <header class="mb-2 flex items-center justify-between gap-2 text-xs text-slate-600">
                <span class="font-semibold uppercase tracking-wide">{kind_label}</span>
                <span data-testid="block-author">{author}</span>
            </header>
            {body}
            <details class="mt-3">
                <summary class="cursor-pointer text-sm text-indigo-700">"Edit"</summary>
                <ActionForm action=actions.update attr:class="mt-2 space-y-2">
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <input type="hidden" name="project" value=project_edit/>
                    <input type="hidden" name="id" value=id_edit/>
                    {editable.then(|| view! {
                        <label class="block text-xs text-slate-700">"Content"
                            <textarea name="content" rows="6" class=format!("{INPUT} font-mono")>{block.content.clone()}</textarea>
                        </label>
                    })}
                    <div class="grid grid-cols-4 gap-2">
                        <label class="text-xs text-slate-700">"x"<input name="x" type="number" min="0" max="100000" value=p.x.to_string() class=INPUT/></label>
                        <label class="text-xs text-slate-700">"y"<input name="y" type="number" min="0" max="100000" value=p.y.to_string() class=INPUT/></label>
                        <label class="text-xs text-slate-700">"width"<input name="w" type="number" min="40" max="4000" value=p.w.to_string() class=INPUT/></label>
                        <label class="text-xs text-slate-700">"height"<input name="h" type="number" min="40" max="4000" value=p.h.to_string() class=INPUT/></label>
                    </div>
                    <button type="submit" class=BUTTON_SECONDARY>"Save block"</button>
                </ActionForm>
                <ActionForm action=actions.delete attr:class="mt-2">
                    <input type="hidden" name="org" value=move || slug.get()/>
                    <input type="hidden" name="project" value=project/>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit" class=BUTTON_DANGER>"Delete block"</button>
                </ActionForm>
            </details>
        </article>
    }
}
