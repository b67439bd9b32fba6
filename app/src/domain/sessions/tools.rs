//! The runtime's tools (SPEC §10): one interface, and one registry that
//! answers an agent's tool set from every source plugged into it — the
//! built-ins now; skills, connectors and MCP servers add sources of their
//! own — filtered by the agent's `tools` allow-list.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::providers::ToolSpec;
use crate::domain::Ctx;
use crate::model::{AgentView, OrgSummary};

/// A tool's default time limit; a call past it is abandoned with status
/// `timeout`, and the model is told.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a tool call may know of the run that makes it.
#[derive(Clone)]
pub struct ToolContext {
    pub ctx: Ctx,
    pub org: OrgSummary,
    pub project_id: Uuid,
    pub session_id: Uuid,
    pub run_id: Uuid,
    pub agent_id: Uuid,
    /// Cancelled when the run is: a long call should stop at once.
    pub cancel: CancellationToken,
}

/// The answer of a call that failed: the text goes back to the model as
/// the tool's result, so it says what went wrong in words the model (and
/// a person reading the transcript) can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFailure(pub String);

#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    /// Name (`[a-z][a-z0-9_.]*`), description and the JSON Schema of the
    /// arguments, as the model sees them.
    fn spec(&self) -> ToolSpec;

    fn timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }

    /// Runs the call with arguments that passed the schema.
    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure>;
}

/// A place tools come from.
#[async_trait::async_trait]
pub trait ToolSource: Send + Sync {
    /// The tools this source offers `agent` (of `org_id`).
    async fn tools(&self, ctx: &Ctx, org_id: Uuid, agent: &AgentView) -> Vec<Arc<dyn Tool>>;
}

/// Every tool source of the server.
#[derive(Default)]
pub struct Registry {
    sources: RwLock<Vec<Arc<dyn ToolSource>>>,
}

impl Registry {
    /// A registry with the built-in tools.
    pub fn with_builtins() -> Registry {
        let registry = Registry::default();
        registry.add_source(Arc::new(super::builtins::Builtins));
        registry.add_source(Arc::new(super::peers::PeerTools));
        registry.add_source(Arc::new(crate::domain::canvas::tools::CanvasTools));
        registry.add_source(Arc::new(crate::domain::files::tools::FileTools));
        registry
    }

    /// Plugs in a source; its tools are offered from the next run on.
    pub fn add_source(&self, source: Arc<dyn ToolSource>) {
        self.sources.write().unwrap_or_else(|p| p.into_inner()).push(source);
    }

    /// The tools `agent` may call: every source's, in order, the first of
    /// a name winning, kept only when the agent's allow-list names them
    /// (`null`: all).
    pub async fn tools_for(&self, ctx: &Ctx, org_id: Uuid, agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        let sources = self.sources.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out: Vec<Arc<dyn Tool>> = Vec::new();
        // Names taken, each spec built once: a spec is a JSON Schema, and
        // this runs before every run's first model call.
        let mut names: Vec<String> = Vec::new();
        for source in sources {
            for tool in source.tools(ctx, org_id, agent).await {
                let name = tool.spec().name;
                let allowed = agent.tools.as_ref().is_none_or(|allowed| allowed.contains(&name));
                if allowed && !names.contains(&name) {
                    names.push(name);
                    out.push(tool);
                }
            }
        }
        out
    }
}

/// Checks `value` against the JSON Schema keywords tools use: `type`,
/// `properties`, `required`, `additionalProperties: false`, `enum`,
/// `minimum`/`maximum`, `minLength`/`maxLength`, `items`. Answers the
/// first problem, naming where it is (`arguments.agent: expected a string`).
pub fn check_arguments(schema: &Value, value: &Value) -> Result<(), String> {
    check_at("arguments", schema, value)
}

fn check_at(path: &str, schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        };
        if !ok {
            return Err(format!("{path}: expected {}", article(kind)));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!("{path}: must be one of {}", Value::Array(options.clone())));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64).filter(|min| n < *min) {
            return Err(format!("{path}: must be at least {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64).filter(|max| n > *max) {
            return Err(format!("{path}: must be at most {max}"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64).filter(|min| len < *min) {
            return Err(format!("{path}: must be at least {min} characters"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64).filter(|max| len > *max) {
            return Err(format!("{path}: must be at most {max} characters"));
        }
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema.get("properties").and_then(Value::as_object)) {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                return Err(format!("{path}.{name}: required"));
            }
        }
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (name, item) in object {
            match properties.get(name) {
                Some(sub) => check_at(&format!("{path}.{name}"), sub, item)?,
                None if closed => return Err(format!("{path}.{name}: not an argument of this tool")),
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check_at(&format!("{path}[{i}]"), schema, item)?;
        }
    }
    Ok(())
}

fn article(kind: &str) -> String {
    match kind {
        "object" | "array" | "integer" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_arguments;

    #[test]
    fn arguments_are_checked_against_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "agent": {"type": "string", "minLength": 1},
                "timeoutSeconds": {"type": "integer", "minimum": 0, "maximum": 120},
                "mode": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["agent"],
            "additionalProperties": false
        });
        assert_eq!(check_arguments(&schema, &json!({"agent": "x", "timeoutSeconds": 30})), Ok(()));
        assert_eq!(check_arguments(&schema, &json!({})).unwrap_err(), "arguments.agent: required");
        assert_eq!(check_arguments(&schema, &json!({"agent": 3})).unwrap_err(), "arguments.agent: expected a string");
        assert!(check_arguments(&schema, &json!({"agent": "x", "timeoutSeconds": 121}))
            .unwrap_err()
            .contains("at most"));
        assert!(check_arguments(&schema, &json!({"agent": "x", "timeoutSeconds": 1.5})).is_err());
        assert!(check_arguments(&schema, &json!({"agent": "x", "mode": "c"})).unwrap_err().contains("one of"));
        assert_eq!(
            check_arguments(&schema, &json!({"agent": "x", "tags": ["a", 2]})).unwrap_err(),
            "arguments.tags[1]: expected a string"
        );
        assert_eq!(
            check_arguments(&schema, &json!({"agent": "x", "extra": 1})).unwrap_err(),
            "arguments.extra: not an argument of this tool"
        );
        assert_eq!(check_arguments(&schema, &json!([1])).unwrap_err(), "arguments: expected an object");
    }
}
