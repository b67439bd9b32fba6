//! The lab's files (SPEC §16): the project's files, newest first, with
//! their size and type; upload (a plain multipart form to `/api/v1/files`,
//! which streams it to storage and brings the browser back here, with or
//! without script); download (a link valid five minutes, made on click);
//! delete. A `file` block on the canvas shows one of these.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::canvas::AddBlock;
use crate::api::files::DeleteFile;
use crate::components::forms::{action_error, FormError, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, INPUT};
use crate::components::layout::use_org_slug;
use crate::model::FileView;

/// `1.2 MB`, `340 KB`, `12 bytes`.
pub fn human_size(bytes: i64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes.max(0) as f64;
    if b >= KB * KB {
        format!("{:.1} MB", b / (KB * KB))
    } else if b >= KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Where the dashboard downloads a file: the org check, then a redirect.
pub fn download_href(org: &str, file: &FileView) -> String {
    format!("/api/v1/files/{}?download=true&org={org}", file.id)
}

#[component]
pub fn FilesSection(
    files: Vec<FileView>,
    project: String,
    delete: ServerAction<DeleteFile>,
    add_block: ServerAction<AddBlock>,
    uploads: RwSignal<usize>,
) -> impl IntoView {
    // With script the form is sent by an XHR that reports its progress;
    // without, the browser posts it and the server sends it back here.
    let progress = RwSignal::new(None::<u32>);
    let sent_error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        if upload_with_progress(&ev, progress, sent_error, uploads).is_ok() {
            ev.prevent_default();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, uploads);
    };
    let slug = use_org_slug();
    let query = use_query_map();
    let upload_error = move || query.with(|q| q.get("file_error")).filter(|e| !e.is_empty());
    let delete_error = action_error(delete);
    let for_blocks = project.clone();
    let action = move || format!("/api/v1/files?org={}&projectId={project}", slug.get());
    view! {
        <div id="files" class="mt-6 border-t border-slate-200 pt-4" data-testid="files">
            <h3 class="text-sm font-semibold text-slate-900">"Files"</h3>
            <p class="mt-1 text-sm text-slate-700">"Files people and agents keep with this project. Downloads use a link that works for five minutes."</p>
            {move || sent_error.get().or_else(upload_error).map(|e| view! { <p role="alert" class="mt-2 rounded-md bg-red-50 p-2 text-sm text-red-800" data-testid="file-error">{e}</p> })}
            <FormError error=delete_error/>
            <form method="post" enctype="multipart/form-data" action=action on:submit=on_submit class="mt-3 flex flex-wrap items-end gap-2" data-testid="upload-form">
                <label class="text-sm text-slate-800">"Choose a file"
                    <input type="file" name="file" required=true class=format!("{INPUT} mt-1") data-testid="file-input"/>
                </label>
                <button type="submit" class=BUTTON disabled=move || progress.get().is_some()>"Upload"</button>
                {move || progress.get().map(|p| view! {
                    <label class="text-sm text-slate-700" data-testid="upload-progress">{format!("Uploading… {p}%")}
                        <progress class="ml-2 align-middle" max="100" value=p.to_string()></progress>
                    </label>
                })}
            </form>
            {if files.is_empty() {
                view! { <p class="mt-3 text-sm text-slate-600" data-testid="files-empty">"No files yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-200 rounded-md border border-slate-200" data-testid="file-list">
                        {files.into_iter().map(|f| {
                            let id = f.id.to_string();
                            let (block_id, block_project) = (id.clone(), for_blocks.clone());
                            let name = f.name.clone();
                            let detail = format!("{} · {} · {}", human_size(f.size_bytes), f.content_type, f.created_at.get(..10).unwrap_or_default());
                            let href = move || download_href(&slug.get(), &f);
                            view! {
                                <li class="flex flex-wrap items-center justify-between gap-2 p-3" data-testid="file-row">
                                    <div>
                                        <a class="font-medium text-indigo-700 hover:underline" href=href rel="external" data-testid="file-download">{name}</a>
                                        <p class="text-xs text-slate-600">{detail}</p>
                                    </div>
                                    <div class="flex gap-2">
                                        <ActionForm action=add_block>
                                            <input type="hidden" name="org" value=move || slug.get()/>
                                            <input type="hidden" name="project" value=block_project/>
                                            <input type="hidden" name="kind" value="file"/>
                                            <input type="hidden" name="content" value=block_id/>
                                            <button type="submit" class=BUTTON_SECONDARY>"Show on the canvas"</button>
                                        </ActionForm>
                                        <ActionForm action=delete>
                                            <input type="hidden" name="org" value=move || slug.get()/>
                                            <input type="hidden" name="id" value=id/>
                                            <button type="submit" class=BUTTON_DANGER>"Delete file"</button>
                                        </ActionForm>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </div>
    }
}

/// Sends the upload form by XHR, reporting progress; when it is done the
/// canvas (and its file list) is read again, or the refusal is shown.
#[cfg(feature = "hydrate")]
fn upload_with_progress(
    ev: &leptos::ev::SubmitEvent,
    progress: RwSignal<Option<u32>>,
    sent_error: RwSignal<Option<String>>,
    uploads: RwSignal<usize>,
) -> Result<(), leptos::wasm_bindgen::JsValue> {
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::wasm_bindgen::JsCast;
    use leptos::web_sys;

    let form: web_sys::HtmlFormElement = ev.target().ok_or("no form")?.dyn_into()?;
    let data = web_sys::FormData::new_with_form(&form)?;
    let xhr = web_sys::XmlHttpRequest::new()?;
    xhr.open("POST", &form.action())?;
    xhr.set_request_header("Accept", "application/json")?;
    let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
        if e.length_computable() && e.total() > 0.0 {
            progress.set(Some((e.loaded() / e.total() * 100.0).floor() as u32));
        }
    });
    xhr.upload()?.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    let answered = xhr.clone();
    let on_done = Closure::<dyn FnMut()>::new(move || {
        progress.set(None);
        let status = answered.status().unwrap_or(0);
        if status == 200 {
            sent_error.set(None);
            form.reset();
            uploads.update(|n| *n += 1);
        } else {
            let text = answered.response_text().ok().flatten().unwrap_or_default();
            let said = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
            sent_error.set(Some(said.unwrap_or_else(|| "The upload did not go through; try again".to_string())));
        }
    });
    xhr.set_onloadend(Some(on_done.as_ref().unchecked_ref()));
    // The handlers live as long as the request; one upload at a time.
    on_progress.forget();
    on_done.forget();
    progress.set(Some(0));
    xhr.send_with_opt_form_data(Some(&data))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(340 * 1024), "340 KB");
        assert_eq!(human_size(1_258_291), "1.2 MB");
    }
}
