//! The `canvas` tools: an agent reads and writes the blocks of its run's
//! project. Blocks it writes say which agent wrote them. (The skills
//! capability will offer these as the `canvas` skill; until then every
//! agent has them, within its `tools` allow-list.)

use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{BlockPatch, NewBlock, Writer, KINDS};
use crate::domain::providers::ToolSpec;
use crate::domain::sessions::tools::{Tool, ToolContext, ToolFailure, ToolSource};
use crate::domain::Ctx;
use crate::model::{AgentView, AppError, BlockView};

pub struct CanvasTools;

#[async_trait::async_trait]
impl ToolSource for CanvasTools {
    async fn tools(&self, _ctx: &Ctx, _org_id: Uuid, _agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(ListBlocks), Arc::new(WriteBlock), Arc::new(UpdateBlock), Arc::new(DeleteBlock)]
    }
}

fn failed(e: AppError) -> ToolFailure {
    ToolFailure(e.message)
}

/// What the model reads of a block (no timestamps it has no use for).
fn brief(block: &BlockView) -> Value {
    json!({
        "id": block.id,
        "kind": block.kind,
        "content": block.content,
        "position": block.position,
        "writtenBy": block.created_by.name.clone().unwrap_or_else(|| block.created_by.kind.clone()),
    })
}

fn position_schema() -> Value {
    json!({
        "type": "object",
        "description": "Where the block sits, in canvas pixels.",
        "properties": {
            "x": {"type": "integer", "minimum": 0, "maximum": 100000},
            "y": {"type": "integer", "minimum": 0, "maximum": 100000},
            "w": {"type": "integer", "minimum": 40, "maximum": 4000},
            "h": {"type": "integer", "minimum": 40, "maximum": 4000},
        },
        "required": ["x", "y", "w", "h"],
        "additionalProperties": false,
    })
}

fn block_id(arguments: &Value) -> Result<Uuid, ToolFailure> {
    arguments["blockId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ToolFailure("blockId: the id of a block, as canvas_list answers it".into()))
}

fn position(arguments: &Value) -> Result<Option<crate::model::BlockPosition>, ToolFailure> {
    match arguments.get("position") {
        None | Some(Value::Null) => Ok(None),
        Some(p) => serde_json::from_value(p.clone())
            .map(Some)
            .map_err(|_| ToolFailure("position: {x, y, w, h} as integers".into())),
    }
}

/// `canvas_list` → the project's blocks, oldest first.
struct ListBlocks;

#[async_trait::async_trait]
impl Tool for ListBlocks {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "canvas_list".into(),
            description: "Lists the blocks on this project's canvas (markdown, code, html, file, session), oldest \
                          first, with their ids, content and positions."
                .into(),
            parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        }
    }

    async fn call(&self, cx: &ToolContext, _arguments: Value) -> Result<Value, ToolFailure> {
        crate::domain::projects::get(&cx.ctx, &cx.org, cx.project_id).await.map_err(failed)?;
        let blocks = super::all(&cx.ctx, cx.project_id).await.map_err(failed)?;
        Ok(json!({ "blocks": blocks.iter().map(brief).collect::<Vec<_>>() }))
    }
}

/// `canvas_write {kind, content, position?}` → the new block.
struct WriteBlock;

#[async_trait::async_trait]
impl Tool for WriteBlock {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "canvas_write".into(),
            description: "Adds a block to this project's canvas: markdown or code text, a whole HTML document \
                          (shown in a sandbox), or the id of one of the project's files or sessions. Without a \
                          position it goes under the lowest block."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": KINDS},
                    "content": {"type": "string", "maxLength": super::CONTENT_MAX_BYTES},
                    "position": position_schema(),
                },
                "required": ["kind", "content"],
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let input = NewBlock {
            kind: arguments["kind"].as_str().unwrap_or_default().to_string(),
            content: arguments["content"].as_str().unwrap_or_default().to_string(),
            position: position(&arguments)?,
        };
        let block =
            super::create(&cx.ctx, Writer::Agent(cx.agent_id), &cx.org, cx.project_id, input).await.map_err(failed)?;
        Ok(brief(&block))
    }
}

/// `canvas_update {blockId, content?, position?}` → the block.
struct UpdateBlock;

#[async_trait::async_trait]
impl Tool for UpdateBlock {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "canvas_update".into(),
            description: "Changes a block of this project's canvas: its content, its position, or both.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "blockId": {"type": "string", "minLength": 1},
                    "content": {"type": "string", "maxLength": super::CONTENT_MAX_BYTES},
                    "position": position_schema(),
                },
                "required": ["blockId"],
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let id = block_id(&arguments)?;
        let patch =
            BlockPatch { content: arguments["content"].as_str().map(str::to_string), position: position(&arguments)? };
        let block = super::update(&cx.ctx, &cx.org, cx.project_id, id, patch).await.map_err(failed)?;
        Ok(brief(&block))
    }
}

/// `canvas_delete {blockId}`.
struct DeleteBlock;

#[async_trait::async_trait]
impl Tool for DeleteBlock {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "canvas_delete".into(),
            description: "Removes a block from this project's canvas.".into(),
            parameters: json!({
                "type": "object",
                "properties": { "blockId": {"type": "string", "minLength": 1} },
                "required": ["blockId"],
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let id = block_id(&arguments)?;
        let block = super::delete(&cx.ctx, &cx.org, cx.project_id, id).await.map_err(failed)?;
        Ok(json!({ "deleted": block.id }))
    }
}
