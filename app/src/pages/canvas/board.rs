//! The canvas's board: each block at its place (x, y, w, h in canvas
//! pixels). With script, a block moves by its title bar and resizes by its
//! corner (pointer, or the arrow keys on either grip) and is stored where
//! it was let go; a markdown, code or HTML block is edited in place.
//! Without script the blocks stand in reading order (or at their places,
//! in a browser that reads typed `attr()`: style/main.css), each with a
//! form for its content and place.
//!
//! Places reach the browser as `data-*` attributes and, once script runs,
//! as CSSOM properties: the dashboard's CSP allows no inline styles, so no
//! `style=""` is ever rendered.

use leptos::ev::{KeyboardEvent, PointerEvent, SubmitEvent};
use leptos::prelude::*;
use uuid::Uuid;

use super::CanvasActions;
use crate::api::canvas::{update_block, DeleteBlock};
use crate::components::forms::{FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, INPUT};
use crate::components::layout::use_org_slug;
use crate::model::{AppError, BlockPosition, CanvasBlockView};
use crate::pages::files::{download_href, human_size};

/// Where a drag lands and how far an arrow key goes: a 10-pixel grid.
const STEP: i64 = 10;
/// Room kept right of and under the blocks, so one can be dragged further.
const MARGIN: i64 = 80;
/// Without script, a block this wide or wider takes the whole row.
const WIDE: i64 = 640;

/// What a grip changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grip {
    Move,
    Resize,
}

fn snap(v: i64) -> i64 {
    (v + STEP / 2).div_euclid(STEP) * STEP
}

/// A block's place once its grip was dragged `dx`, `dy` pixels from
/// `from`: on the grid, and within the bounds the server holds it to.
pub fn dragged(from: BlockPosition, grip: Grip, dx: i64, dy: i64) -> BlockPosition {
    let coord = |v: i64| snap(v).clamp(0, BlockPosition::COORD_MAX);
    let side = |v: i64| snap(v).clamp(BlockPosition::SIZE_MIN, BlockPosition::SIZE_MAX);
    match grip {
        Grip::Move => BlockPosition { x: coord(from.x + dx), y: coord(from.y + dy), ..from },
        Grip::Resize => BlockPosition { w: side(from.w + dx), h: side(from.h + dy), ..from },
    }
}

/// An arrow key's step on a grip; `None` for any other key.
pub fn nudged(from: BlockPosition, grip: Grip, key: &str) -> Option<BlockPosition> {
    let (dx, dy) = match key {
        "ArrowLeft" => (-STEP, 0),
        "ArrowRight" => (STEP, 0),
        "ArrowUp" => (0, -STEP),
        "ArrowDown" => (0, STEP),
        _ => return None,
    };
    Some(dragged(from, grip, dx, dy))
}

/// How big the board must be to hold every block, with room to spare.
fn extent(places: impl IntoIterator<Item = BlockPosition>) -> (i64, i64) {
    let (w, h) = places.into_iter().fold((0, 0), |(w, h), p| (w.max(p.x + p.w), h.max(p.y + p.h)));
    (w + MARGIN, h + MARGIN)
}

fn px(v: i64) -> String {
    format!("{v}px")
}

#[component]
pub fn Board(
    blocks: Vec<CanvasBlockView>,
    project: Uuid,
    actions: CanvasActions,
    live: RwSignal<bool>,
) -> impl IntoView {
    let placed: Vec<(CanvasBlockView, RwSignal<BlockPosition>)> = blocks
        .into_iter()
        .map(|b| {
            let at = RwSignal::new(b.block.position);
            (b, at)
        })
        .collect();
    let (first_w, first_h) = extent(placed.iter().map(|(b, _)| b.block.position));
    let places: Vec<RwSignal<BlockPosition>> = placed.iter().map(|(_, at)| *at).collect();
    let size = Memo::new(move |_| extent(places.iter().map(|at| at.get())));
    let place_error = RwSignal::new(None::<AppError>);
    view! {
        <FormError error=place_error/>
        <div class="canvas-viewport mt-4" data-testid="board">
            <div
                class="canvas-board grid gap-4 lg:grid-cols-2"
                class:live=move || live.get()
                data-testid="blocks"
                data-w=first_w
                data-h=first_h
                style:width=move || live.get().then(|| px(size.get().0))
                style:height=move || live.get().then(|| px(size.get().1))
            >
                {placed
                    .into_iter()
                    .map(|(b, at)| view! { <BlockCard b=b at=at project=project actions=actions live=live place_error=place_error/> })
                    .collect_view()}
            </div>
        </div>
    }
}

/// A drag in progress: which grip, from where, and the pointer doing it.
#[derive(Clone, Copy)]
struct Drag {
    grip: Grip,
    from: BlockPosition,
    start: (i32, i32),
    pointer: i32,
}

/// One block's place on the board and how it is kept.
#[derive(Clone, Copy)]
struct Placement {
    org: Signal<String>,
    project: Uuid,
    id: Uuid,
    at: RwSignal<BlockPosition>,
    /// Where the server has it.
    stored: StoredValue<BlockPosition>,
    /// A save in flight, and whether the block moved again meanwhile.
    busy: StoredValue<bool>,
    again: StoredValue<bool>,
    drag: StoredValue<Option<Drag>>,
    error: RwSignal<Option<AppError>>,
}

impl Placement {
    /// Stores where the block is now. One request at a time: a move made
    /// while one is in flight is sent when it has answered, so the last
    /// place wins. A refusal puts the block back where the server has it.
    fn store(self) {
        if self.busy.get_value() {
            self.again.set_value(true);
            return;
        }
        let to = self.at.get_untracked();
        if to == self.stored.get_value() {
            return;
        }
        self.busy.set_value(true);
        let org = self.org.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = update_block(org, self.project, self.id, None, to.x, to.y, to.w, to.h).await;
            self.busy.set_value(false);
            match answer {
                Ok(_) => {
                    self.stored.set_value(to);
                    self.error.set(None);
                    if self.again.get_value() {
                        self.again.set_value(false);
                        self.store();
                    }
                }
                Err(e) => {
                    self.again.set_value(false);
                    self.at.set(self.stored.get_value());
                    self.error.set(Some(e));
                }
            }
        });
    }

    fn press(self, grip: Grip, ev: &PointerEvent) {
        if ev.button() != 0 {
            return;
        }
        ev.prevent_default();
        // The grip keeps the pointer's events while it is held, wherever it goes.
        {
            use leptos::wasm_bindgen::JsCast;
            if let Some(el) = ev.current_target().and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok()) {
                let _ = el.set_pointer_capture(ev.pointer_id());
            }
        }
        let start = (ev.client_x(), ev.client_y());
        self.drag.set_value(Some(Drag { grip, from: self.at.get_untracked(), start, pointer: ev.pointer_id() }));
    }

    fn follow(self, ev: &PointerEvent) {
        if let Some(d) = self.drag.get_value().filter(|d| d.pointer == ev.pointer_id()) {
            let (dx, dy) = (i64::from(ev.client_x() - d.start.0), i64::from(ev.client_y() - d.start.1));
            self.at.set(dragged(d.from, d.grip, dx, dy));
        }
    }

    fn release(self, ev: &PointerEvent) {
        if self.drag.get_value().is_some_and(|d| d.pointer == ev.pointer_id()) {
            self.drag.set_value(None);
            self.store();
        }
    }

    fn cancel(self) {
        if let Some(d) = self.drag.get_value() {
            self.drag.set_value(None);
            self.at.set(d.from);
        }
    }

    fn key(self, grip: Grip, ev: &KeyboardEvent) {
        if let Some(to) = nudged(self.at.get_untracked(), grip, &ev.key()) {
            ev.prevent_default();
            self.at.set(to);
            self.store();
        }
    }
}

/// A handle that moves or resizes its block.
#[component]
fn GripButton(
    placement: Placement,
    grip: Grip,
    label: &'static str,
    class: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <button
            type="button"
            aria-label=label
            title=label
            class=class
            data-grip=match grip { Grip::Move => "move", Grip::Resize => "resize" }
            on:pointerdown=move |ev| placement.press(grip, &ev)
            on:pointermove=move |ev| placement.follow(&ev)
            on:pointerup=move |ev| placement.release(&ev)
            on:pointercancel=move |_| placement.cancel()
            on:keydown=move |ev| placement.key(grip, &ev)
        >
            {children()}
        </button>
    }
}

#[component]
fn BlockCard(
    b: CanvasBlockView,
    at: RwSignal<BlockPosition>,
    project: Uuid,
    actions: CanvasActions,
    live: RwSignal<bool>,
    place_error: RwSignal<Option<AppError>>,
) -> impl IntoView {
    let slug = use_org_slug();
    let block = b.block.clone();
    let id = block.id;
    let p = block.position;
    let placement = Placement {
        org: slug,
        project,
        id,
        at,
        stored: StoredValue::new(p),
        busy: StoredValue::new(false),
        again: StoredValue::new(false),
        drag: StoredValue::new(None),
        error: place_error,
    };
    let wide = if p.w >= WIDE { " lg:col-span-2" } else { "" };
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
    let editable = matches!(block.kind.as_str(), "markdown" | "code" | "html");
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let body = block_body(&b, &slug.get_untracked());
    let content = block.content.clone();
    let grip_class = "flex min-w-0 flex-1 cursor-move touch-none items-center gap-2 rounded text-left font-semibold uppercase tracking-wide";
    let title = move || {
        if live.get() {
            view! {
                <GripButton placement=placement grip=Grip::Move label="Move the block" class=grip_class>
                    <span aria-hidden="true">"⠿"</span>{kind_label}
                </GripButton>
            }
            .into_any()
        } else {
            view! { <span class="font-semibold uppercase tracking-wide">{kind_label}</span> }.into_any()
        }
    };
    let delete = move || {
        actions.delete.dispatch(DeleteBlock { org: slug.get_untracked(), project, id });
    };
    let small = "rounded px-2 py-0.5 text-xs font-medium";
    let tools = move || {
        live.get().then(|| {
            view! {
                <div class="flex shrink-0 items-center gap-1">
                    {editable.then(|| view! {
                        <button type="button" class=format!("{small} text-indigo-700 hover:bg-indigo-50") disabled=move || editing.get()
                            on:click=move |_| editing.set(true)>"Edit"</button>
                    })}
                    {move || if confirming.get() {
                        view! {
                            <span class="text-xs text-slate-800">"Delete it?"</span>
                            <button type="button" class=format!("{small} bg-red-700 text-white hover:bg-red-800") on:click=move |_| delete()>"Delete"</button>
                            <button type="button" class=format!("{small} text-slate-700 hover:bg-slate-100") on:click=move |_| confirming.set(false)>"Keep"</button>
                        }.into_any()
                    } else {
                        view! {
                            <button type="button" class=format!("{small} text-red-800 hover:bg-red-50") on:click=move |_| confirming.set(true)>"Delete"</button>
                        }.into_any()
                    }}
                </div>
            }
        })
    };
    let fallback = {
        let content = content.clone();
        move || {
            (!live.get()).then(|| view! { <FormsWithoutScript id=id project=project p=p content=editable.then(|| content.clone()) actions=actions/> })
        }
    };
    view! {
        <article
            class=format!("canvas-block flex flex-col rounded-md border border-slate-200 bg-white p-3{wide}")
            data-testid="block"
            data-kind=block.kind.clone()
            data-x=p.x
            data-y=p.y
            data-w=p.w
            data-h=p.h
            style:left=move || live.get().then(|| px(at.get().x))
            style:top=move || live.get().then(|| px(at.get().y))
            style:width=move || live.get().then(|| px(at.get().w))
            style:height=move || live.get().then(|| px(at.get().h))
        >
            <header class="mb-2 flex items-center justify-between gap-2 text-xs text-slate-600">
                {title}
                <span class="truncate" data-testid="block-author">{author}</span>
                {tools}
            </header>
            <div class="canvas-body min-h-0 flex-1 overflow-auto" class:hidden=move || editing.get()>{body}</div>
            {move || editing.get().then(|| view! { <InPlaceEditor placement=placement content=content.clone() editing=editing actions=actions/> })}
            {fallback}
            {move || live.get().then(|| view! {
                <GripButton placement=placement grip=Grip::Resize label="Resize the block"
                    class="canvas-resize absolute bottom-0 right-0 h-5 w-5 cursor-nwse-resize touch-none rounded-br-md text-slate-400 hover:text-indigo-700">
                    <span aria-hidden="true">"◢"</span>
                </GripButton>
            })}
        </article>
    }
}

/// What a block shows: its rendered markdown, code, sandboxed page, file
/// or session link.
fn block_body(b: &CanvasBlockView, org: &str) -> AnyView {
    let block = &b.block;
    match block.kind.as_str() {
        "markdown" => view! { <div class="prose-block text-sm text-slate-900" inner_html=b.html.clone().unwrap_or_default()></div> }.into_any(),
        "code" => view! { <pre class="h-full overflow-auto rounded bg-slate-50 p-3 text-xs text-slate-900"><code>{block.content.clone()}</code></pre> }.into_any(),
        "html" => view! {
            <iframe sandbox="allow-scripts" referrerpolicy="no-referrer" title="HTML block"
                class="canvas-frame w-full rounded border border-slate-200" height=block.position.h.to_string() src=b.frame.clone().unwrap_or_default()></iframe>
        }.into_any(),
        "session" => {
            let href = format!("?session={}", block.content);
            let title = b.session_title.clone().unwrap_or_else(|| "A session".into());
            view! { <p class="text-sm">"Chat session: "<a class="font-medium text-indigo-700 hover:underline" href=href>{title}</a></p> }.into_any()
        }
        _ => match b.file.clone() {
            Some(file) => {
                let image = file.content_type.starts_with("image/") && !file.content_type.starts_with("image/svg");
                let inline = format!("/api/v1/files/{}?inline=true&org={org}", file.id);
                let href = download_href(org, &file);
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
    }
}

/// A block's text edited where it stands. Saving stores it and reads the
/// canvas again (markdown is rendered by the server); a refusal is shown
/// here with the text kept. Ctrl+Enter saves, Escape puts it back.
#[component]
fn InPlaceEditor(
    placement: Placement,
    content: String,
    editing: RwSignal<bool>,
    actions: CanvasActions,
) -> impl IntoView {
    let draft = RwSignal::new(content);
    let error = RwSignal::new(None::<AppError>);
    let saving = RwSignal::new(false);
    let area = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(t) = area.get() {
            let _ = t.focus();
        }
    });
    let save = move || {
        if saving.get_untracked() {
            return;
        }
        saving.set(true);
        let to = placement.at.get_untracked();
        let (org, text) = (placement.org.get_untracked(), draft.get_untracked());
        leptos::task::spawn_local(async move {
            match update_block(org, placement.project, placement.id, Some(text), to.x, to.y, to.w, to.h).await {
                // The canvas is read again and this card made anew.
                Ok(_) => {
                    placement.stored.set_value(to);
                    actions.changed.update(|n| *n += 1);
                }
                Err(e) => {
                    saving.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let on_key = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Escape" => editing.set(false),
        "Enter" if ev.ctrl_key() || ev.meta_key() => {
            ev.prevent_default();
            save();
        }
        _ => {}
    };
    view! {
        <form class="flex min-h-0 flex-1 flex-col gap-2" on:submit=move |ev: SubmitEvent| { ev.prevent_default(); save(); }>
            <textarea node_ref=area aria-label="The block's content" class=format!("{INPUT} min-h-24 flex-1 font-mono text-xs")
                prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev)) on:keydown=on_key></textarea>
            <FormError error=error/>
            <div class="flex flex-wrap items-center gap-2">
                <button type="submit" class=BUTTON disabled=move || saving.get()>"Save"</button>
                <button type="button" class=BUTTON_SECONDARY on:click=move |_| editing.set(false)>"Cancel"</button>
                <span class="text-xs text-slate-600">"Ctrl+Enter saves · Esc cancels"</span>
            </div>
        </form>
    }
}

/// Without script: a block's content and place by numbers, and delete.
#[component]
fn FormsWithoutScript(
    id: Uuid,
    project: Uuid,
    p: BlockPosition,
    content: Option<String>,
    actions: CanvasActions,
) -> impl IntoView {
    let slug = use_org_slug();
    view! {
        <details class="mt-3">
            <summary class="cursor-pointer text-sm text-indigo-700">"Edit"</summary>
            <ActionForm action=actions.update attr:class="mt-2 space-y-2">
                <input type="hidden" name="org" value=move || slug.get()/>
                <input type="hidden" name="project" value=project.to_string()/>
                <input type="hidden" name="id" value=id.to_string()/>
                {content.map(|content| view! {
                    <label class="block text-xs text-slate-700">"Content"
                        <textarea name="content" rows="6" class=format!("{INPUT} font-mono")>{content}</textarea>
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
                <input type="hidden" name="project" value=project.to_string()/>
                <input type="hidden" name="id" value=id.to_string()/>
                <button type="submit" class=BUTTON_DANGER>"Delete block"</button>
            </ActionForm>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: BlockPosition = BlockPosition { x: 100, y: 200, w: 480, h: 320 };

    #[test]
    fn a_drag_lands_on_the_grid_and_within_bounds() {
        assert_eq!(dragged(AT, Grip::Move, 33, -47), BlockPosition { x: 130, y: 150, ..AT });
        assert_eq!(
            dragged(AT, Grip::Move, -500, -500),
            BlockPosition { x: 0, y: 0, ..AT },
            "never off the top or left"
        );
        assert_eq!(dragged(AT, Grip::Resize, 14, 15), BlockPosition { w: 490, h: 340, ..AT }, "only the size changes");
        assert_eq!(dragged(AT, Grip::Resize, -1000, 9000), BlockPosition { w: 40, h: 4000, ..AT });
        let far = BlockPosition { x: 99_990, ..AT };
        assert_eq!(dragged(far, Grip::Move, 500, 0).x, BlockPosition::COORD_MAX);
    }

    #[test]
    fn arrow_keys_step_ten_pixels_and_other_keys_do_nothing() {
        assert_eq!(nudged(AT, Grip::Move, "ArrowRight"), Some(BlockPosition { x: 110, ..AT }));
        assert_eq!(nudged(AT, Grip::Move, "ArrowUp"), Some(BlockPosition { y: 190, ..AT }));
        assert_eq!(nudged(AT, Grip::Resize, "ArrowDown"), Some(BlockPosition { h: 330, ..AT }));
        assert_eq!(nudged(AT, Grip::Move, "a"), None);
    }

    #[test]
    fn the_board_holds_every_block_with_room_to_spare() {
        let other = BlockPosition { x: 600, y: 0, w: 300, h: 100 };
        assert_eq!(extent([AT, other]), (900 + MARGIN, 520 + MARGIN));
    }
}
