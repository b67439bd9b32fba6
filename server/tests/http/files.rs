//! Files (SPEC §16) on both storage backends: local disk and a real
//! S3-compatible server on loopback (`fake_s3`). Upload, list, metadata,
//! download through a link valid five minutes (Alumia's signed route, or
//! the bucket's presigned URL), inline answers that never render active
//! content, delete removing the object, the upload cap (413) and the
//! package's storage (402) keeping nothing, another org's files 404, and a
//! large upload streamed without the server holding it.

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use app::domain::files::{links, sweeper};
use app::domain::orgs;

use crate::fake_s3::FakeS3;
use crate::support::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Local,
    S3,
}

struct T {
    server: TestServer,
    browser: Browser,
    org: String,
    project_slug: String,
    key: String,
    org_id: Uuid,
    project: String,
    http: reqwest::Client,
    _s3: Option<FakeS3>,
}

/// A package whose storage is 1 MB, for the 402.
const TINY_PACKAGE: &str = r#"
[[packages]]
id = "tiny"
name = "Tiny"
monthly_credits = 0
max_storage_mb = 1
"#;

async fn setup_with(backend: Backend, adjust: impl FnOnce(&mut server::Settings)) -> T {
    let s3 = match backend {
        Backend::Local => None,
        Backend::S3 => Some(FakeS3::start().await),
    };
    let server = start_with_config(TINY_PACKAGE, |s| {
        if let Some(s3) = &s3 {
            s3.configure(s);
        }
        adjust(s);
    })
    .await;
    let (browser, org, key) = owner_with_key(&server, &[]).await;
    let org_id = orgs::find_by_slug(&server.ctx, &org).await.unwrap().unwrap();
    let api = Api::new(&server, Some(&key));
    let made = data(&api.post("/projects", json!({ "name": "Quarterly report" })).await);
    let (project, project_slug) =
        (made["id"].as_str().unwrap().to_string(), made["slug"].as_str().unwrap().to_string());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    T { server, browser, org, project_slug, key, org_id, project, http, _s3: s3 }
}

async fn setup(backend: Backend) -> T {
    setup_with(backend, |_| {}).await
}

const BOUNDARY: &str = "alumia-test-boundary-7d1f";

fn multipart_head(project: &str, name: &str, content_type: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"projectId\"\r\n\r\n{project}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
}

fn multipart_tail() -> String {
    format!("\r\n--{BOUNDARY}--\r\n")
}

async fn answer(res: reqwest::Response) -> Answer {
    let (status, headers) = (res.status(), res.headers().clone());
    Answer { status, headers, body: res.text().await.unwrap() }
}

impl T {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.base)
    }

    async fn upload_as(&self, key: &str, project: &str, name: &str, content_type: &str, bytes: &[u8]) -> Answer {
        let mut body = multipart_head(project, name, content_type).into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(multipart_tail().as_bytes());
        let res = self
            .http
            .post(self.url("/files"))
            .bearer_auth(key)
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .await
            .unwrap();
        answer(res).await
    }

    async fn upload(&self, name: &str, content_type: &str, bytes: &[u8]) -> Answer {
        self.upload_as(&self.key, &self.project, name, content_type, bytes).await
    }

    async fn get(&self, path: &str) -> Answer {
        answer(self.http.get(self.url(path)).bearer_auth(&self.key).send().await.unwrap()).await
    }

    async fn bytes_at(&self, url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let res = self.http.get(url).send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.bytes().await.unwrap().to_vec())
    }

    async fn objects(&self) -> Vec<String> {
        self.server.ctx.storage.keys_under(self.org_id).await.unwrap()
    }

    async fn download_link(&self, id: &str) -> String {
        let redirect = self.get(&format!("/files/{id}?download=true")).await;
        assert_eq!(redirect.status, StatusCode::FOUND, "{}", redirect.body);
        redirect.location().expect("a Location")
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn upload_list_download_delete(backend: Backend) {
    let t = setup(backend).await;
    let text = b"Quarterly notes: revenue up, costs down.";
    let up = t.upload("notes.txt", "text/plain", text).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    let file = data(&up);
    let id = file["id"].as_str().unwrap().to_string();
    assert_eq!(file["name"], "notes.txt");
    assert_eq!(file["contentType"], "text/plain");
    assert_eq!(file["sizeBytes"], text.len());
    assert_eq!(file["sha256"], hex_sha256(text));
    assert_eq!(file["projectId"].as_str(), Some(t.project.as_str()));
    assert_eq!(file["createdBy"]["kind"], "user");
    assert_eq!(t.objects().await.len(), 1, "one object stored");

    let listed = data(&t.get(&format!("/files?projectId={}", t.project)).await);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(data(&t.get(&format!("/files/{id}")).await)["sha256"], hex_sha256(text));

    // A download: the org check, then a link anyone holding it may open.
    let link = t.download_link(&id).await;
    match backend {
        Backend::Local => assert!(link.starts_with(&format!("{}/files/{id}/content?", t.server.public_url)), "{link}"),
        Backend::S3 => {
            assert!(link.contains("X-Amz-Signature=") && link.contains("X-Amz-Expires=300"), "{link}")
        }
    }
    let (status, headers, bytes) = t.bytes_at(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, text);
    if backend == Backend::Local {
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with("attachment; filename=\"notes.txt\""), "{disposition}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }

    // Inline: the bytes here, with their type.
    let inline = t.get(&format!("/files/{id}?inline=true")).await;
    assert_eq!(inline.status, StatusCode::OK);
    assert_eq!(inline.body.as_bytes(), text);
    assert_eq!(inline.headers["content-type"], "text/plain");
    assert!(inline.headers["content-disposition"].to_str().unwrap().starts_with("inline"));
    assert_eq!(inline.headers["x-content-type-options"], "nosniff");
    assert!(inline.headers["content-security-policy"].to_str().unwrap().starts_with("sandbox"));

    let deleted = answer(t.http.delete(t.url(&format!("/files/{id}"))).bearer_auth(&t.key).send().await.unwrap()).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(t.get(&format!("/files/{id}")).await.status, StatusCode::NOT_FOUND);
    assert!(t.objects().await.is_empty(), "the object went with the file");
    assert!(data(&t.get(&format!("/files?projectId={}", t.project)).await)["items"].as_array().unwrap().is_empty());
    // The link handed out before is dead too.
    assert_eq!(t.bytes_at(&link).await.0, StatusCode::NOT_FOUND);
    assert_eq!(audit_count(&t.server, "file.upload").await, 1);
    assert_eq!(audit_count(&t.server, "file.delete").await, 1);
}

#[tokio::test]
async fn a_file_is_uploaded_listed_downloaded_and_deleted_on_local_disk() {
    upload_list_download_delete(Backend::Local).await;
}

#[tokio::test]
async fn a_file_is_uploaded_listed_downloaded_and_deleted_on_s3() {
    upload_list_download_delete(Backend::S3).await;
}

async fn caps_keep_nothing(backend: Backend) {
    let t = setup_with(backend, |s| s.max_upload_mb = Some(1)).await;
    let over = vec![b'x'; 1024 * 1024 + 1];
    let refused = t.upload("big.bin", "application/octet-stream", &over).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert!(t.objects().await.is_empty(), "nothing stored: {:?}", t.objects().await);
    assert!(data(&t.get("/files").await)["items"].as_array().unwrap().is_empty());

    // The package's storage: 1 MB in all.
    app::domain::billing::plans::set_package(&t.server.ctx, t.org_id, "tiny").await.unwrap();
    let part = vec![b'y'; 700 * 1024];
    assert_eq!(t.upload("first.bin", "application/octet-stream", &part).await.status, StatusCode::OK);
    let full = t.upload("second.bin", "application/octet-stream", &part).await;
    assert_eq!(full.status, StatusCode::PAYMENT_REQUIRED, "{}", full.body);
    assert_eq!(full.json()["error"]["details"]["reason"], "package_blocks");
    assert_eq!(t.objects().await.len(), 1, "only the first file's object");
    let listed = data(&t.get("/files").await);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["name"], "first.bin");
}

#[tokio::test]
async fn uploads_past_the_caps_keep_nothing_on_local_disk() {
    caps_keep_nothing(Backend::Local).await;
}

#[tokio::test]
async fn uploads_past_the_caps_keep_nothing_on_s3() {
    caps_keep_nothing(Backend::S3).await;
}

fn with_query(link: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(link).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| if k == name { (k.into_owned(), value.to_string()) } else { (k.into_owned(), v.into_owned()) })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

fn query(link: &str, name: &str) -> String {
    url::Url::parse(link).unwrap().query_pairs().find(|(k, _)| k == name).unwrap().1.into_owned()
}

#[tokio::test]
async fn local_links_expire_and_open_only_their_file() {
    let t = setup(Backend::Local).await;
    let a = data(&t.upload("a.txt", "text/plain", b"file a").await)["id"].as_str().unwrap().to_string();
    let b = data(&t.upload("b.txt", "text/plain", b"file b").await)["id"].as_str().unwrap().to_string();
    let link_a = t.download_link(&a).await;
    assert_eq!(t.bytes_at(&link_a).await.2, b"file a");

    // Tampered: another signature, another time, another file's id.
    let bad_sig = with_query(&link_a, "sig", "AAAA");
    assert_eq!(t.bytes_at(&bad_sig).await.0, StatusCode::FORBIDDEN);
    let later = (query(&link_a, "expires").parse::<i64>().unwrap() + 3600).to_string();
    assert_eq!(t.bytes_at(&with_query(&link_a, "expires", &later)).await.0, StatusCode::FORBIDDEN);
    let swapped = link_a.replace(&a, &b);
    let (status, _, body) = t.bytes_at(&swapped).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a's signature does not open b");
    assert!(!String::from_utf8_lossy(&body).contains("file b"));
    assert_eq!(t.bytes_at(&format!("{}/files/{a}/content", t.server.base)).await.0, StatusCode::FORBIDDEN);

    // Five minutes on, the link is dead; a new one works.
    t.server.ctx.clock.advance(chrono::Duration::minutes(5) + chrono::Duration::seconds(2));
    let (status, _, body) = t.bytes_at(&link_a).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&body).contains("expired"), "{}", String::from_utf8_lossy(&body));
    assert_eq!(t.bytes_at(&t.download_link(&a).await).await.2, b"file a");
}

#[tokio::test]
async fn presigned_s3_links_expire_and_cannot_be_altered() {
    let t = setup(Backend::S3).await;
    let file = data(&t.upload("a.txt", "text/plain", b"file a").await);
    let link = t.download_link(file["id"].as_str().unwrap()).await;
    assert!(link.starts_with(&t._s3.as_ref().unwrap().endpoint), "the bucket's own URL: {link}");
    assert_eq!(t.bytes_at(&link).await.2, b"file a");
    let sig = query(&link, "X-Amz-Signature");
    let flipped = format!("{}{}", if sig.starts_with('0') { '1' } else { '0' }, &sig[1..]);
    assert_eq!(t.bytes_at(&with_query(&link, "X-Amz-Signature", &flipped)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.bytes_at(&with_query(&link, "X-Amz-Expires", "86400")).await.0, StatusCode::FORBIDDEN);
    // The store checks the expiry against its own clock: a link signed for
    // one second is refused once that second has passed.
    let key = t.server.ctx.storage.key(t.org_id, file["id"].as_str().unwrap().parse().unwrap());
    let short = t.server.ctx.storage.presigned(&key, std::time::Duration::from_secs(1)).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(t.bytes_at(&short).await.0, StatusCode::FORBIDDEN);
    assert_eq!(links::VALID_FOR, chrono::Duration::minutes(5));
}

#[tokio::test]
async fn inline_answers_never_render_active_content() {
    let t = setup(Backend::Local).await;
    for (name, content_type, body) in [
        ("page.html", "text/html", &b"<script>document.cookie</script>"[..]),
        (
            "logo.svg",
            "image/svg+xml",
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"[..],
        ),
    ] {
        let id = data(&t.upload(name, content_type, body).await)["id"].as_str().unwrap().to_string();
        let inline = t.get(&format!("/files/{id}?inline=true")).await;
        assert_eq!(inline.status, StatusCode::OK);
        let disposition = inline.headers["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with("attachment"), "{name}: {disposition}");
        assert!(inline.headers["content-security-policy"].to_str().unwrap().contains("sandbox"));
        assert_eq!(inline.headers["x-content-type-options"], "nosniff");
    }
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let id = data(&t.upload("dot.png", "image/png", &png).await)["id"].as_str().unwrap().to_string();
    let inline = t.get(&format!("/files/{id}?inline=true")).await;
    assert_eq!(inline.headers["content-type"], "image/png");
    assert!(inline.headers["content-disposition"].to_str().unwrap().starts_with("inline"));
    // A type that is no type is stored as bytes.
    let odd = data(&t.upload("odd", "not a type", b"?").await);
    assert_eq!(odd["contentType"], "application/octet-stream");
}

#[tokio::test]
async fn another_orgs_files_are_not_found() {
    let t = setup(Backend::Local).await;
    let id = data(&t.upload("mine.txt", "text/plain", b"mine").await)["id"].as_str().unwrap().to_string();
    let (_, _, other_key) = owner_with_key(&t.server, &[]).await;
    let other = |path: &str| {
        let url = t.url(path);
        let http = t.http.clone();
        let key = other_key.clone();
        async move { http.get(url).bearer_auth(key).send().await.unwrap().status() }
    };
    assert_eq!(other(&format!("/files/{id}")).await, StatusCode::NOT_FOUND);
    assert_eq!(other(&format!("/files/{id}?download=true")).await, StatusCode::NOT_FOUND);
    assert_eq!(other(&format!("/files/{id}?inline=true")).await, StatusCode::NOT_FOUND);
    assert_eq!(other(&format!("/files?projectId={}", t.project)).await, StatusCode::NOT_FOUND);
    let gone = t.http.delete(t.url(&format!("/files/{id}"))).bearer_auth(&other_key).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let into_mine = t.upload_as(&other_key, &t.project, "theirs.txt", "text/plain", b"theirs").await;
    assert_eq!(into_mine.status, StatusCode::NOT_FOUND, "{}", into_mine.body);
    assert_eq!(data(&t.get(&format!("/files/{id}")).await)["name"], "mine.txt", "still there");
}

#[tokio::test]
async fn bad_uploads_get_clear_errors() {
    let t = setup(Backend::Local).await;
    let not_multipart =
        t.http.post(t.url("/files")).bearer_auth(&t.key).json(&json!({ "file": "x" })).send().await.unwrap();
    let not_multipart = answer(not_multipart).await;
    assert_eq!(not_multipart.status, StatusCode::BAD_REQUEST, "{}", not_multipart.body);
    // A file and no project: refused, and nothing stored.
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc\r\n--{BOUNDARY}--\r\n"
    );
    let res = t
        .http
        .post(t.url("/files"))
        .bearer_auth(&t.key)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let no_project = answer(res).await;
    assert_eq!(no_project.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_project.body);
    assert_eq!(no_project.json()["error"]["details"]["field"], "projectId");
    assert!(t.objects().await.is_empty(), "the refused file's object is gone");
    // The project after the file is as good as before it.
    let res = t
        .http
        .post(t.url("/files"))
        .bearer_auth(&t.key)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"late.txt\"\r\n\r\nlate\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"projectId\"\r\n\r\n{}\r\n--{BOUNDARY}--\r\n",
            t.project
        ))
        .send()
        .await
        .unwrap();
    let late = answer(res).await;
    assert_eq!(late.status, StatusCode::OK, "{}", late.body);
    assert_eq!(data(&late)["name"], "late.txt");
    // The project as a query parameter instead.
    let res = t
        .http
        .post(t.url(&format!("/files?projectId={}", t.project)))
        .bearer_auth(&t.key)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../a.txt\"\r\n\r\nabc\r\n--{BOUNDARY}--\r\n"
        ))
        .send()
        .await
        .unwrap();
    let by_query = answer(res).await;
    assert_eq!(by_query.status, StatusCode::OK, "{}", by_query.body);
    assert_eq!(data(&by_query)["name"], "a.txt", "no path in a name");
    assert_eq!(t.objects().await.len(), 2);
}

/// VmRSS / VmHWM of this process (the server runs in it), in KB.
fn memory_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_large_upload_streams_to_storage_without_the_server_holding_it() {
    let t = setup_with(Backend::Local, |s| s.max_upload_mb = Some(200)).await;
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 1_600; // 100 MB
    let pattern: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let mut expected = Sha256::new();
    for _ in 0..CHUNKS {
        expected.update(&pattern);
    }
    let expected = hex::encode(expected.finalize());
    let head = multipart_head(&t.project, "big.bin", "application/octet-stream");
    let tail = multipart_tail();
    let length = head.len() + CHUNK * CHUNKS + tail.len();
    let chunk = bytes::Bytes::from(pattern);
    let stream = futures::stream::iter(std::iter::once(bytes::Bytes::from(head)))
        .chain(futures::stream::iter(std::iter::repeat_n(chunk, CHUNKS)))
        .chain(futures::stream::iter(std::iter::once(bytes::Bytes::from(tail))))
        .map(Ok::<_, std::io::Error>);
    let before = memory_kb("VmRSS:");
    let res = t
        .http
        .post(t.url("/files"))
        .bearer_auth(&t.key)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let up = answer(res).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    let peak = memory_kb("VmHWM:");
    let file = data(&up);
    assert_eq!(file["sizeBytes"], (CHUNK * CHUNKS) as u64);
    assert_eq!(file["sha256"], expected);
    // 100 MB went through; the process's peak grew by far less.
    let grew_mb = peak.saturating_sub(before) / 1024;
    assert!(grew_mb < 40, "the peak grew by {grew_mb} MB for a 100 MB upload");
}

#[tokio::test]
async fn deleting_a_project_removes_its_files() {
    let t = setup(Backend::Local).await;
    let id = data(&t.upload("doomed.txt", "text/plain", b"bye").await)["id"].as_str().unwrap().to_string();
    let api = Api::new(&t.server, Some(&t.key));
    assert_eq!(api.delete(&format!("/projects/{}", t.project)).await.status, StatusCode::OK);
    assert_eq!(t.get(&format!("/files/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app::domain::files::usage(&t.server.ctx, &org_summary(&t).await).await.unwrap(), 0);
    // The sweep started by the delete, or this one, removes the object.
    sweeper::sweep(&t.server.ctx).await.unwrap();
    assert!(t.objects().await.is_empty());
    let rows: i64 =
        app::on_db!(&t.server.ctx.db, |p| sqlx::query_scalar("SELECT COUNT(*) FROM files").fetch_one(p).await).unwrap();
    assert_eq!(rows, 0);
}

async fn org_summary(t: &T) -> app::model::OrgSummary {
    app::domain::api_keys::authenticate(&t.server.ctx, &t.key, None).await.unwrap().1
}

#[tokio::test]
async fn a_file_block_holds_a_file_of_the_project() {
    let t = setup(Backend::Local).await;
    let api = Api::new(&t.server, Some(&t.key));
    let blocks = format!("/projects/{}/blocks", t.project);
    let stranger = api.post(&blocks, json!({ "kind": "file", "content": Uuid::new_v4().to_string() })).await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", stranger.body);
    let id = data(&t.upload("chart.png", "image/png", b"\x89PNG").await)["id"].as_str().unwrap().to_string();
    let block = api.post(&blocks, json!({ "kind": "file", "content": id })).await;
    assert_eq!(block.status, StatusCode::OK, "{}", block.body);
    let _: Value = data(&block);
}

#[tokio::test]
async fn the_lab_uploads_without_javascript_and_a_shared_canvas_links_its_files() {
    let mut t = setup(Backend::Local).await;
    let lab = format!("/{}/projects/{}", t.org, t.project_slug);
    let cookie = format!("alumia_session={}", t.browser.cookie.clone().unwrap());
    let post_form = |body: String| {
        let req = t
            .http
            .post(format!("{}/api/v1/files?org={}&projectId={}", t.server.base, t.org, t.project))
            .header("accept", "text/html")
            .header("origin", &t.server.public_url)
            .header("referer", format!("{}{lab}?session=x", t.server.public_url))
            .header("cookie", &cookie)
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body);
        async move { answer(req.send().await.unwrap()).await }
    };
    let form = |name: &str, bytes: &str| {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: text/csv\r\n\r\n{bytes}\r\n--{BOUNDARY}--\r\n"
        )
    };
    let posted = post_form(form("figures.csv", "q,revenue\n1,100")).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert_eq!(posted.location().unwrap(), format!("{lab}?session=x#files"), "back to the lab");
    let page = t.browser.page(&lab).await;
    assert!(page.body.contains("figures.csv") && page.body.contains("data-testid=\"file-row\""), "the lab lists it");
    // A refusal comes back to the page too, saying why.
    let refused = post_form(form("", "x")).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert!(refused.location().unwrap().contains("file_error="), "{:?}", refused.location());

    // On the canvas and on a shared canvas, a file block links a download.
    let listed = data(&t.get(&format!("/files?projectId={}", t.project)).await);
    let id = listed["items"][0]["id"].as_str().unwrap().to_string();
    let api = Api::new(&t.server, Some(&t.key));
    let block = api.post(&format!("/projects/{}/blocks", t.project), json!({ "kind": "file", "content": id })).await;
    assert_eq!(block.status, StatusCode::OK, "{}", block.body);
    let lab_page = t.browser.page(&lab).await;
    assert!(lab_page.body.contains("data-testid=\"file-block\""), "the canvas shows the file");
    let share = format!("/api/v1/projects/{}/share?org={}", t.project, t.org);
    let shared = t.browser.api(reqwest::Method::POST, &share, json!({})).await;
    assert_eq!(shared.status, StatusCode::OK, "{}", shared.body);
    let url = data(&shared)["url"].as_str().unwrap().to_string();
    let share_page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(share_page.contains("figures.csv"), "{share_page}");
    let href = share_page.split("href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let (status, _, bytes) = t.bytes_at(&href).await;
    assert_eq!((status, bytes), (StatusCode::OK, b"q,revenue\n1,100".to_vec()));
}

#[tokio::test]
async fn an_agent_writes_and_reads_files_with_the_files_tools() {
    use crate::fake_provider::{FakeToolCall, Scripted};
    let t = crate::sessions::setup().await;
    let session = t.session().await;
    t.fake.push(Scripted::tool_calls(vec![FakeToolCall::new(
        "w1",
        "files_write",
        &[r#"{"name": "summary.md", "content": "Revenue grew 12% in Q3."}"#],
    )]));
    t.fake.push(Scripted::tool_calls(vec![FakeToolCall::new("l1", "files_list", &["{}"])]));
    t.fake.push(Scripted::text(&["Saved the summary."]));
    let answer = data(&t.say(&session, "Write the summary to a file").await);
    assert_eq!(answer["message"]["content"], "Saved the summary.");
    let listed = data(&t.api.get(&format!("/files?projectId={}", t.project)).await);
    let file = listed["items"][0].clone();
    assert_eq!(file["name"], "summary.md");
    assert_eq!(file["createdBy"], json!({ "kind": "agent", "id": t.agent, "name": "Helper" }));
    assert_eq!(file["sha256"], hex_sha256(b"Revenue grew 12% in Q3."));
    // What the model read back from files_list names it.
    let sent = t.fake.requests();
    let tools: Vec<String> = sent.last().unwrap().body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(tools.iter().any(|c| c.contains("summary.md")), "{tools:?}");

    // files_read gives the text back; another project's file is not found.
    let id = file["id"].as_str().unwrap();
    t.fake.push(Scripted::tool_calls(vec![FakeToolCall::new(
        "r1",
        "files_read",
        &[&format!(r#"{{"fileId": "{id}"}}"#)],
    )]));
    t.fake.push(Scripted::text(&["It says revenue grew."]));
    data(&t.say(&session, "Read it back").await);
    let sent = t.fake.requests();
    let read =
        sent.last().unwrap().body["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "tool").unwrap()
            ["content"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(read.contains("Revenue grew 12% in Q3.") && read.contains("\"bytesLeftOut\":0"), "{read}");
}

#[tokio::test]
async fn a_store_that_is_down_fails_the_upload_at_once_and_keeps_nothing() {
    // An S3 endpoint where nothing listens (the discard port).
    let t = setup_with(Backend::Local, |s| {
        std::env::set_var("AWS_ACCESS_KEY_ID", crate::fake_s3::ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", crate::fake_s3::SECRET_KEY);
        s.storage_url = Some("s3://nowhere/files".into());
        s.s3_endpoint = Some("http://127.0.0.1:9".into());
    })
    .await;
    let started = std::time::Instant::now();
    let refused = t.upload("notes.txt", "text/plain", b"hello").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(!refused.body.contains("127.0.0.1"), "the store's address stays in the log: {}", refused.body);
    // Bounded retries, not object_store's three minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(data(&t.get("/files").await)["items"].as_array().unwrap().is_empty());
}
