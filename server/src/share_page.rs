//! The pages of the canvas that are not the dashboard's (SPEC §15):
//!
//! - `/share/<token>`: a shared canvas, read-only, without sign-in. No
//!   app shell, no script at all: nothing of the members, no session
//!   internals beyond a session block's title, `noindex`, no referrer
//!   (the token is in the URL), and a policy that allows only its own
//!   inline stylesheet (by hash) and frames from here. Any link that does
//!   not open — disabled, expired, a deleted project, a wrong token —
//!   answers the very same 404.
//! - `/frames/<block id>?e=…&s=…`: an HTML block's document, at the signed
//!   URL a page handed out (`canvas::render::frame_path`). Its policy
//!   `sandbox allow-scripts` makes it an opaque origin even when opened on
//!   its own: its scripts run but reach no cookie, storage or API of ours
//!   (and `connect-src` is closed). Only our pages may frame it. A share
//!   page's frame URLs name its link and stop working with it.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_FRAME_OPTIONS};
use http::{HeaderName, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use app::domain::canvas::render::{self, escape};
use app::domain::canvas::share::{self, SharedCanvas};
use app::domain::Ctx;
use app::model::BlockView;

/// The share page's whole stylesheet, allowed by its hash.
const STYLE: &str = "\
body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;color:#1f2328;background:#f6f7f9}\
header{padding:16px 24px;background:#fff;border-bottom:1px solid #e3e6ea}\
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#59636e;font-size:14px}\
main{max-width:960px;margin:0 auto;padding:24px;display:flex;flex-direction:column;gap:16px}\
.block{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:16px;overflow:auto}\
.block pre{margin:0;white-space:pre-wrap;font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}\
.block iframe{width:100%;border:0;display:block}\
.by{margin:8px 0 0;color:#59636e;font-size:12px}.empty{color:#59636e}\
.gone{max-width:520px;margin:96px auto;text-align:center;color:#59636e}";

fn style_hash(style: &str) -> String {
    format!("'sha256-{}'", BASE64.encode(Sha256::digest(style.as_bytes())))
}

/// The policy of a share page (and its 404): its stylesheets by hash.
fn share_policy(layout: &str) -> String {
    let layout_hash = if layout.is_empty() { String::new() } else { format!(" {}", style_hash(layout)) };
    format!(
        "default-src 'none'; style-src {}{layout_hash}; img-src 'self' https: data:; frame-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        style_hash(STYLE)
    )
}

/// The blocks' places on a wide screen, as the canvas has them (`#b<n>` is
/// the n-th block of the page); a narrow one reads them top to bottom.
/// Only numbers go in, so the sheet needs no escaping.
fn layout_style(blocks: &[&BlockView]) -> String {
    if blocks.is_empty() {
        return String::new();
    }
    // `main`'s padding: a block at x = 0 starts where the page's text does.
    const PAD: i64 = 24;
    let (w, h) = blocks
        .iter()
        .fold((0, 0), |(w, h), b| (w.max(b.position.x + b.position.w), h.max(b.position.y + b.position.h)));
    let mut css = format!(
        "@media (min-width:1000px){{main.board{{display:block;position:relative;max-width:none;margin:0;\
         width:{w}px;height:{h}px}}main.board>.block{{position:absolute;box-sizing:border-box}}"
    );
    for (n, b) in blocks.iter().enumerate() {
        let p = b.position;
        css.push_str(&format!("#b{n}{{left:{}px;top:{}px;width:{}px;height:{}px}}", p.x + PAD, p.y + PAD, p.w, p.h));
    }
    css.push('}');
    css
}

fn page(status: StatusCode, title: &str, body: &str, layout: &str) -> Response {
    let layout_sheet = if layout.is_empty() { String::new() } else { format!("<style>{layout}</style>") };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\"><meta name=\"referrer\" content=\"no-referrer\">\
         <title>{}</title><style>{STYLE}</style>{layout_sheet}</head><body>{body}</body></html>",
        escape(title)
    );
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        (CONTENT_SECURITY_POLICY, share_policy(layout)),
        (REFERRER_POLICY, "no-referrer".to_string()),
        (CACHE_CONTROL, "no-store".to_string()),
        (HeaderName::from_static("x-robots-tag"), "noindex, nofollow".to_string()),
    ];
    (status, headers, html).into_response()
}

/// The one answer for every link that does not open.
fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not found",
        "<main class=\"gone\"><h1>This link does not work</h1>\
         <p>It may have been turned off or mistyped. Ask whoever shared it for a new one.</p></main>",
        "",
    )
}

/// One block as the share page shows it.
fn block_html(ctx: &Ctx, canvas: &SharedCanvas, files: &[SharedFile], n: usize, block: &BlockView) -> String {
    let inner = match block.kind.as_str() {
        "markdown" => render::markdown(&block.content),
        "code" => format!("<pre><code>{}</code></pre>", escape(&block.content)),
        "html" => {
            let expires = ctx.clock.now() + render::FRAME_URL_LIFETIME;
            format!(
                "<iframe sandbox=\"allow-scripts\" referrerpolicy=\"no-referrer\" loading=\"lazy\" title=\"HTML block\" \
                 height=\"{}\" src=\"{}\"></iframe>",
                block.position.h,
                escape(&render::frame_path(&ctx.sealer, block.id, expires, Some(canvas.link_id)))
            )
        }
        "session" => {
            let title = canvas
                .session_titles
                .iter()
                .find(|(id, _)| id.to_string() == block.content)
                .map_or("A chat session", |(_, t)| t.as_str());
            format!("<p>Chat session: <strong>{}</strong></p>", escape(title))
        }
        _ => match files.iter().find(|f| f.file.id.to_string() == block.content) {
            Some(f) => format!(
                "<p>File: <a href=\"{}\" rel=\"noreferrer\">{}</a> <span class=\"by\">{} bytes · {}</span></p>",
                escape(&f.url),
                escape(&f.file.name),
                f.file.size_bytes,
                escape(&f.file.content_type)
            ),
            None => "<p class=\"empty\">A file that was deleted</p>".to_string(),
        },
    };
    let by = match (block.created_by.kind.as_str(), &block.created_by.name) {
        ("agent", Some(name)) => format!("<p class=\"by\">Written by the agent {}</p>", escape(name)),
        _ => String::new(),
    };
    format!("<section id=\"b{n}\" class=\"block {}\">{inner}{by}</section>", escape(&block.kind))
}

/// A file block's file and the link the page gives it.
struct SharedFile {
    file: app::model::FileView,
    url: String,
}

/// `GET /share/{token}`.
pub async fn shared_canvas(State(ctx): State<Ctx>, Path(token): Path<String>) -> Response {
    let canvas = match share::open(&ctx, &token).await {
        Ok(Some(canvas)) => canvas,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e.message, "a share page failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong").into_response();
        }
    };
    // File blocks link a download valid five minutes from this view.
    let mut files = Vec::new();
    for block in canvas.blocks.iter().filter(|b| b.kind == "file") {
        let Ok(id) = block.content.parse::<Uuid>() else { continue };
        match app::domain::files::links::shared(&ctx, block.project_id, id).await {
            Ok(Some((file, url))) => files.push(SharedFile { file, url }),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.message, "a shared file's link failed"),
        }
    }
    // Read in canvas order: top to bottom, then left to right (a wide
    // screen places them as the canvas does).
    let mut blocks: Vec<&BlockView> = canvas.blocks.iter().collect();
    blocks.sort_by_key(|b| (b.position.y, b.position.x));
    let body: String = if blocks.is_empty() {
        "<p class=\"empty\">This canvas is empty.</p>".to_string()
    } else {
        blocks.iter().enumerate().map(|(n, b)| block_html(&ctx, &canvas, &files, n, b)).collect()
    };
    let layout = layout_style(&blocks);
    let title = format!("{} · shared canvas", canvas.project_name);
    page(
        StatusCode::OK,
        &title,
        &format!(
            "<header><h1>{}</h1><p>A read-only canvas shared from Alumia</p></header><main class=\"board\">{body}</main>",
            escape(&canvas.project_name)
        ),
        &layout,
    )
}

#[derive(Deserialize)]
pub struct FrameQuery {
    e: Option<i64>,
    l: Option<Uuid>,
    s: Option<String>,
}

/// The policy of an HTML block's document: an opaque origin whose inline
/// scripts and styles run, that loads nothing from the network but
/// images, and that only our pages may frame.
const FRAME_POLICY: &str = "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src data: https:; font-src data:; media-src data: https:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// `GET /frames/{id}?e=…&s=…`.
pub async fn frame(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Query<FrameQuery>) -> Response {
    let forbidden = || (StatusCode::FORBIDDEN, "This frame link is not valid (or has expired)").into_response();
    let (Ok(id), Some(e), Some(s)) = (id.parse::<Uuid>(), q.e, q.s) else { return forbidden() };
    if !render::frame_allowed(&ctx.sealer, id, e, q.l, &s, ctx.clock.now()) {
        return forbidden();
    }
    // A share page's frame works while its link does.
    if let Some(link) = q.l {
        match share::is_live(&ctx, link).await {
            Ok(true) => {}
            Ok(false) => return forbidden(),
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong").into_response(),
        }
    }
    let html = match app::domain::canvas::html_of(&ctx, id).await {
        Ok(Some(html)) => html,
        Ok(None) => return (StatusCode::NOT_FOUND, "This block is gone").into_response(),
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong").into_response(),
    };
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (CONTENT_SECURITY_POLICY, FRAME_POLICY),
        (X_FRAME_OPTIONS, "SAMEORIGIN"),
        (REFERRER_POLICY, "no-referrer"),
        (CACHE_CONTROL, "private, no-store"),
    ];
    (headers, html).into_response()
}
