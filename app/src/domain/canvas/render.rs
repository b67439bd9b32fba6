//! How blocks are shown, the same on the lab's canvas and a share page:
//! markdown as HTML (raw HTML in it shown as text, links made safe), code
//! as escaped text, and HTML documents never inline — in a sandboxed frame
//! at a signed URL (`frame_path`), whose answer runs in an opaque origin
//! with no way to our cookies, storage or APIs.

use chrono::{DateTime, Utc};
use pulldown_cmark::{html, Event, Options, Parser, Tag};
use uuid::Uuid;

use crate::domain::secrets::Sealer;

/// How long a frame URL handed out with a page works.
pub const FRAME_URL_LIFETIME: chrono::Duration = chrono::Duration::hours(1);
const FRAME_PURPOSE: &str = "canvas-frame";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a link or image target may stay: web, mail and in-page links
/// only (`javascript:` and `data:` URLs go).
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') && !scheme.contains('?') && !scheme.contains('#') => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Markdown as HTML: CommonMark with tables, strikethrough and task lists.
/// HTML written in the markdown is shown as text, never run.
pub fn markdown(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) if !safe_url(&dest_url) => {
            Event::Start(Tag::Link { link_type, dest_url: "#".into(), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) if !safe_url(&dest_url) => {
            Event::Start(Tag::Image { link_type, dest_url: "#".into(), title, id })
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

fn frame_message(block_id: Uuid, e: i64, link: Option<Uuid>) -> String {
    match link {
        Some(link) => format!("{block_id}.{e}.{link}"),
        None => format!("{block_id}.{e}.-"),
    }
}

/// `/frames/<block id>?e=<unix seconds>[&l=<share link id>]&s=<signature>`:
/// where an HTML block's document is served, valid until `expires`. A
/// share page's frames name its link (`l`), so they stop with it.
pub fn frame_path(sealer: &Sealer, block_id: Uuid, expires: DateTime<Utc>, link: Option<Uuid>) -> String {
    let e = expires.timestamp();
    let s = sealer.sign(FRAME_PURPOSE, &frame_message(block_id, e, link));
    match link {
        Some(link) => format!("/frames/{block_id}?e={e}&l={link}&s={s}"),
        None => format!("/frames/{block_id}?e={e}&s={s}"),
    }
}

/// Whether a frame URL's `e`, `l` and `s` are this server's for
/// `block_id`, and not expired at `now` (the caller checks that a named
/// share link is still live).
pub fn frame_allowed(sealer: &Sealer, block_id: Uuid, e: i64, link: Option<Uuid>, s: &str, now: DateTime<Utc>) -> bool {
    e > now.timestamp() && sealer.verify(FRAME_PURPOSE, &frame_message(block_id, e, link), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_its_raw_html_and_script_links_do_not() {
        let html = markdown(
            "# Plan\n\n- [x] done\n\n<script>alert(1)</script>\n\n[go](javascript:alert(1)) [ok](https://example.com)",
        );
        assert!(html.contains("<h1>Plan</h1>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "raw HTML is text: {html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains(r##"<a href="#">go</a>"##), "{html}");
        assert!(html.contains(r#"<a href="https://example.com">ok</a>"#), "{html}");
    }

    #[test]
    fn a_frame_url_works_for_its_block_until_it_expires() {
        let sealer = Sealer::new(&Sealer::generate_key());
        let (block, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Utc::now();
        let path = frame_path(&sealer, block, now + FRAME_URL_LIFETIME, None);
        let query = path.split_once('?').unwrap().1;
        let e: i64 = query.split('&').next().unwrap().trim_start_matches("e=").parse().unwrap();
        let s = query.split("&s=").nth(1).unwrap();
        assert!(frame_allowed(&sealer, block, e, None, s, now));
        assert!(!frame_allowed(&sealer, other, e, None, s, now), "another block's signature");
        assert!(!frame_allowed(&sealer, block, e + 60, None, s, now), "a changed expiry");
        assert!(!frame_allowed(&sealer, block, e, Some(Uuid::new_v4()), s, now), "a link added");
        assert!(!frame_allowed(&sealer, block, e, None, s, now + FRAME_URL_LIFETIME + chrono::Duration::seconds(1)));
        let link = Uuid::new_v4();
        let shared = frame_path(&sealer, block, now + FRAME_URL_LIFETIME, Some(link));
        let s = shared.split("&s=").nth(1).unwrap();
        assert!(frame_allowed(&sealer, block, e, Some(link), s, now));
        assert!(!frame_allowed(&sealer, block, e, None, s, now), "the link dropped");
    }
}
