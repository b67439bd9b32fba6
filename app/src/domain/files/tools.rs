//! The `files` tools: an agent lists, reads and writes the files of its
//! run's project, through the same domain calls as the API (caps, storage
//! count, audit). A file it writes says which agent wrote it. (The skills
//! capability will offer these as the `files` skill; until then every
//! agent has them, within its `tools` allow-list.)

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Incoming, MB};
use crate::domain::audit::AuditActor;
use crate::domain::canvas::Writer;
use crate::domain::paging::PageRequest;
use crate::domain::providers::ToolSpec;
use crate::domain::sessions::tools::{Tool, ToolContext, ToolFailure, ToolSource};
use crate::domain::Ctx;
use crate::model::{AgentView, AppError, FileView};

/// The most of a file `files_read` hands the model (its context is
/// bounded; the rest is said to be left out).
pub const READ_MAX_BYTES: usize = 64 * 1024;
/// The most `files_write` takes in one call.
pub const WRITE_MAX_BYTES: usize = MB as usize;

pub struct FileTools;

#[async_trait::async_trait]
impl ToolSource for FileTools {
    async fn tools(&self, _ctx: &Ctx, _org_id: Uuid, _agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(ListFiles), Arc::new(ReadFile), Arc::new(WriteFile)]
    }
}

fn failed(e: AppError) -> ToolFailure {
    ToolFailure(e.message)
}

fn brief(file: &FileView) -> Value {
    json!({
        "id": file.id,
        "name": file.name,
        "contentType": file.content_type,
        "sizeBytes": file.size_bytes,
        "writtenBy": file.created_by.name.clone().unwrap_or_else(|| file.created_by.kind.clone()),
    })
}

/// `files_list` → the project's files, newest first.
struct ListFiles;

#[async_trait::async_trait]
impl Tool for ListFiles {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "files_list".into(),
            description: "Lists this project's files, newest first: id, name, type and size.".into(),
            parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        }
    }

    async fn call(&self, cx: &ToolContext, _arguments: Value) -> Result<Value, ToolFailure> {
        let page = PageRequest { limit: 100, after: None };
        let files = super::list(&cx.ctx, &cx.org, Some(cx.project_id), page).await.map_err(failed)?;
        Ok(json!({ "files": files.items.iter().map(brief).collect::<Vec<_>>() }))
    }
}

/// `files_read {fileId}` → its text (the first 64 KB).
struct ReadFile;

#[async_trait::async_trait]
impl Tool for ReadFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "files_read".into(),
            description: "Reads a text file of this project (the first 64 KB; says when more was left out).".into(),
            parameters: json!({
                "type": "object",
                "properties": { "fileId": {"type": "string", "minLength": 1} },
                "required": ["fileId"],
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let id: Uuid = arguments["fileId"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| ToolFailure("fileId: the id of a file, as files_list answers it".into()))?;
        // Its run's project only.
        if super::in_project(&cx.ctx, cx.project_id, id).await.map_err(failed)?.is_none() {
            return Err(ToolFailure("No file of this project has that id".into()));
        }
        let (file, mut bytes) = super::open(&cx.ctx, &cx.org, id).await.map_err(failed)?;
        let mut text = Vec::with_capacity(READ_MAX_BYTES.min(file.size_bytes.max(0) as usize));
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| ToolFailure(format!("The file could not be read: {e}")))?;
            let room = READ_MAX_BYTES - text.len();
            text.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if text.len() == READ_MAX_BYTES {
                break;
            }
        }
        let left_out = (file.size_bytes.max(0) as usize).saturating_sub(text.len());
        // A cut may fall inside a character: keep what is whole.
        let text = match String::from_utf8(text) {
            Ok(text) => text,
            Err(e) if left_out > 0 && e.utf8_error().error_len().is_none() => {
                let valid = e.utf8_error().valid_up_to();
                String::from_utf8(e.into_bytes()[..valid].to_vec()).unwrap_or_default()
            }
            Err(_) => return Err(ToolFailure(format!("{} is not a text file ({})", file.name, file.content_type))),
        };
        Ok(json!({ "name": file.name, "contentType": file.content_type, "text": text, "bytesLeftOut": left_out }))
    }
}

/// `files_write {name, content, contentType?}` → the new file.
struct WriteFile;

#[async_trait::async_trait]
impl Tool for WriteFile {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "files_write".into(),
            description: "Saves text as a new file of this project (a report, a CSV, a page). Show it on the \
                          canvas with canvas_write kind \"file\" and its id."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 255},
                    "content": {"type": "string", "maxLength": WRITE_MAX_BYTES},
                    "contentType": {"type": "string", "description": "Default text/plain; charset=utf-8"},
                },
                "required": ["name", "content"],
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let name = arguments["name"].as_str().unwrap_or_default();
        let content = arguments["content"].as_str().unwrap_or_default();
        if content.len() > WRITE_MAX_BYTES {
            return Err(ToolFailure(format!("content: at most {WRITE_MAX_BYTES} bytes a call")));
        }
        let content_type = arguments["contentType"].as_str().unwrap_or("text/plain; charset=utf-8");
        let incoming = Incoming { name, content_type: Some(content_type) };
        let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(content.to_string()))]);
        let by = AuditActor { user_id: None, auth_method: "agent", stepped_up_at: None, ip: None };
        let file = super::upload(&cx.ctx, by, Writer::Agent(cx.agent_id), &cx.org, cx.project_id, incoming, body)
            .await
            .map_err(failed)?;
        Ok(brief(&file))
    }
}
