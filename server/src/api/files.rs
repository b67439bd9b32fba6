//! `/api/v1/files` (SPEC §16): upload (multipart, streamed to storage),
//! list, metadata, the bytes (`?download=true`: a redirect to a link valid
//! five minutes; `?inline=true`: streamed here), delete. And the signed
//! route local links point at, `/files/{id}/content`, outside `/api/v1`:
//! it takes no key or session, only its signature.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use futures::StreamExt;
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use app::domain::files::{self, links, Incoming};
use app::domain::{canvas, projects, Ctx};
use app::model::{AppError, ErrorCode, FileView, Page};

use super::envelope::{ApiError, ApiOk};
use super::extract::{parse_id, ApiQuery};
use crate::auth::ApiCaller;
use crate::openapi::{Envelope, ErrorEnvelope};

/// What a file's bytes may do when a browser opens them: nothing.
const FILE_POLICY: &str = "sandbox; default-src 'none'";

/// The upload's form, for the document (the handler reads the parts as
/// they stream).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
#[schema(as = FileUpload)]
struct UploadForm {
    /// The project (or the `projectId` query parameter); before or after
    /// `file`.
    #[schema(format = Uuid)]
    project_id: String,
    /// The file: its part's file name and type are kept.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

// The query structs take unknown parameters: a browser names its org with
// `?org=` beside them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The project the file goes to, instead of a `projectId` part.
    pub project_id: Option<uuid::Uuid>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FileListParams {
    /// Only this project's files; absent: the org's.
    pub project_id: Option<uuid::Uuid>,
    /// How many items a page holds.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// The `nextCursor` of the previous page, as it was given.
    #[param(max_length = 51, pattern = "^$|^[0-9]{1,18}-[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FileGetParams {
    /// A 302 to a link that downloads the file for the next five minutes.
    pub download: Option<bool>,
    /// The bytes here, with the file's type (HTML, SVG and other active
    /// content as an attachment only).
    pub inline: Option<bool>,
}

fn upload_refused(message: impl Into<String>) -> ApiError {
    ApiError(AppError::validation("file", message))
}

#[utoipa::path(post, path = "/files", tag = "files", params(UploadParams),
    request_body(content_type = "multipart/form-data", content = UploadForm),
    description = "Multipart: `projectId` (or the query parameter) and `file`, in either order. The body streams to storage; past `ALUMIA_MAX_UPLOAD_MB` (default 25) it is a 413, past the package's storage a 402 with `details.reason` `package_blocks`, and nothing is kept.",
    responses((status = 200, description = "The file", body = Envelope<FileView>),
        (status = 400, description = "Not a multipart body, or one cut short", body = ErrorEnvelope),
        (status = 402, description = "The package's storage is full", body = ErrorEnvelope),
        (status = 404, description = "A project that names nothing of this org", body = ErrorEnvelope),
        (status = 413, description = "The file is over the upload cap", body = ErrorEnvelope),
        (status = 422, description = "No file part, no project, or a bad name (`details.field` names it)", body = ErrorEnvelope)))]
pub async fn upload(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<UploadParams>,
    request: Request,
) -> Response {
    // The lab's upload form, posted without script: back to the page.
    let back = back_to_page(&request, &ctx.settings.public_url);
    let answer = receive_upload(ctx, caller, params, request).await;
    match (back, answer) {
        (None, Ok(file)) => file.into_response(),
        (None, Err(error)) => error.into_response(),
        (Some(page), Ok(_)) => Redirect::to(&format!("{page}#files")).into_response(),
        (Some(page), Err(ApiError(error))) => {
            let sep = if page.contains('?') { '&' } else { '?' };
            let message = app::model::encode_query_value(&error.message);
            Redirect::to(&format!("{page}{sep}file_error={message}#files")).into_response()
        }
    }
}

/// The page of ours a form was posted from (its Referer is under the
/// public URL), when the poster wants a page back (a browser without
/// script asks for HTML).
fn back_to_page(request: &Request, public_url: &str) -> Option<String> {
    let wants_page = request
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let referer = request.headers().get(http::header::REFERER)?.to_str().ok()?;
    let ours = referer.strip_prefix(public_url).is_some_and(|rest| rest.starts_with('/'));
    let url = url::Url::parse(referer).ok()?;
    (wants_page && ours).then(|| {
        let kept: Vec<String> = url
            .query_pairs()
            .filter(|(k, _)| k != "file_error")
            .map(|(k, v)| format!("{k}={}", app::model::encode_query_value(&v)))
            .collect();
        match kept.is_empty() {
            true => url.path().to_string(),
            false => format!("{}?{}", url.path(), kept.join("&")),
        }
    })
}

async fn receive_upload(
    ctx: Ctx,
    caller: ApiCaller,
    params: UploadParams,
    request: Request,
) -> Result<ApiOk<FileView>, ApiError> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError(AppError::bad_request("Send the file as multipart/form-data")))?;
    let mut multipart = multer::Multipart::new(request.into_body().into_data_stream(), boundary);
    let mut project = params.project_id;
    if let Some(id) = project {
        // Known before any byte: a wrong project fails fast.
        projects::get(&ctx, &caller.org, id).await?;
    }
    let mut received = None;
    let outcome = read_parts(&ctx, &caller, &mut multipart, &mut project, &mut received).await;
    match (outcome, received, project) {
        (Ok(()), Some(file), Some(project)) => {
            let writer = canvas::member(&caller.actor);
            Ok(ApiOk(files::record(&ctx, (&caller.actor).into(), writer, &caller.org, project, file).await?))
        }
        (outcome, file, project) => {
            if let Some(file) = file {
                files::discard(&ctx, file).await;
            }
            outcome?;
            Err(match project {
                None => ApiError(AppError::validation("projectId", "projectId: the body names no project")),
                Some(_) => upload_refused("file: the body has no file part"),
            })
        }
    }
}

/// Reads the body's parts in whatever order they come: `projectId` (once),
/// `file` (once, streamed to storage as it arrives).
async fn read_parts(
    ctx: &Ctx,
    caller: &ApiCaller,
    multipart: &mut multer::Multipart<'static>,
    project: &mut Option<uuid::Uuid>,
    received: &mut Option<files::Received>,
) -> Result<(), ApiError> {
    let malformed = |e: multer::Error| ApiError(AppError::bad_request(format!("The multipart body is malformed: {e}")));
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("projectId") => {
                let text = field.text().await.map_err(malformed)?;
                let id = text
                    .trim()
                    .parse()
                    .map_err(|_| ApiError(AppError::validation("projectId", "projectId: not a project id")))?;
                if received.is_none() {
                    projects::get(ctx, &caller.org, id).await?;
                }
                *project = Some(id);
            }
            Some("file") if received.is_none() => {
                let name = field.file_name().unwrap_or_default().to_string();
                let part_type = field.content_type().map(|m| m.to_string());
                let incoming = Incoming { name: &name, content_type: part_type.as_deref() };
                *received = Some(files::receive(ctx, &caller.org, incoming, field.boxed()).await?);
            }
            Some("file") => return Err(upload_refused("file: one file an upload")),
            other => {
                let name = other.unwrap_or_default().chars().take(40).collect::<String>();
                return Err(upload_refused(format!("file: unknown part {name:?}: send projectId and file")));
            }
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/files", tag = "files", params(FileListParams),
    responses((status = 200, description = "The org's files (or one project's), newest first", body = Envelope<Page<FileView>>),
        (status = 404, description = "A project that names nothing of this org", body = ErrorEnvelope)))]
pub async fn list(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    ApiQuery(params): ApiQuery<FileListParams>,
) -> Result<ApiOk<Page<FileView>>, ApiError> {
    let page = app::domain::paging::PageRequest::parse(params.limit, params.cursor.as_deref())?;
    Ok(ApiOk(files::list(&ctx, &caller.org, params.project_id, page).await?))
}

#[utoipa::path(get, path = "/files/{id}", tag = "files", params(("id" = Uuid, Path), FileGetParams),
    description = "The metadata; with `download=true` a 302 to a link valid five minutes (Alumia's signed route on local storage, the bucket's presigned URL on S3); with `inline=true` the bytes.",
    responses((status = 200, description = "The file's metadata (or, with `inline=true`, its bytes)", body = Envelope<FileView>),
        (status = 302, description = "`download=true`: the link is in `Location`")))]
pub async fn get(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<FileGetParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    if params.download == Some(true) {
        let url = links::download_url(&ctx, &caller.org, id).await?;
        let location = HeaderValue::from_str(&url).map_err(|_| ApiError(AppError::internal()))?;
        return Ok((StatusCode::FOUND, [(LOCATION, location)]).into_response());
    }
    if params.inline == Some(true) {
        let (file, bytes) = files::open(&ctx, &caller.org, id).await?;
        return Ok(bytes_answer(&file, bytes, true));
    }
    Ok(ApiOk(files::get(&ctx, &caller.org, id).await?).into_response())
}

#[utoipa::path(delete, path = "/files/{id}", tag = "files", params(("id" = Uuid, Path)),
    description = "Gone at once (and out of the storage count); the stored object is removed with it.",
    responses((status = 200, description = "The file, as it was", body = Envelope<FileView>)))]
pub async fn delete(
    State(ctx): State<Ctx>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<ApiOk<FileView>, ApiError> {
    Ok(ApiOk(files::delete(&ctx, &caller.actor, &caller.org, parse_id(&id)?).await?))
}

#[derive(Deserialize)]
pub struct SignedParams {
    expires: i64,
    sig: String,
}

/// `GET /files/{id}/content?expires=&sig=`: what a local download link
/// opens. A bad, expired or another file's signature is a 403; the answer
/// is always an attachment.
pub async fn signed_content(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    params: Result<Query<SignedParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let refused = |error: AppError| {
        let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::FORBIDDEN);
        (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", error.message)).into_response()
    };
    let (Ok(id), Ok(Query(params))) = (id.parse::<uuid::Uuid>(), params) else {
        return refused(AppError::forbidden("This download link is not valid: ask for a new one"));
    };
    match links::open_signed(&ctx, id, params.expires, &params.sig).await {
        Ok((file, bytes)) => {
            let mut answer = bytes_answer(&file, bytes, false);
            answer.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
            answer
        }
        Err(error) if error.code == ErrorCode::NotFound => {
            refused(AppError::new(ErrorCode::NotFound, "This file was deleted"))
        }
        Err(error) => refused(error),
    }
}

/// The file's bytes as an answer: its type, its length, `nosniff` (set
/// for every answer), a sandbox policy, and inline only when asked and
/// the type cannot run script.
fn bytes_answer(
    file: &FileView,
    bytes: futures::stream::BoxStream<'static, Result<bytes::Bytes, files::storage::StoreError>>,
    inline: bool,
) -> Response {
    let disposition = if inline && !files::is_active_content(&file.content_type) { "inline" } else { "attachment" };
    let mut answer = Response::new(Body::from_stream(bytes));
    let headers = answer.headers_mut();
    let text =
        |v: &str| HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_TYPE, text(&file.content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(file.size_bytes.max(0) as u64));
    headers.insert(CONTENT_DISPOSITION, text(&files::disposition(disposition, &file.name)));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(FILE_POLICY));
    answer
}
