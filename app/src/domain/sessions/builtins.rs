//! Built-in tools every agent has that need nothing but the server:
//! `get_time {timezone}`. (Peer messaging's are in `peers`.)

use std::sync::Arc;

use serde_json::{json, Value};
use uuid::Uuid;

use super::tools::{Tool, ToolContext, ToolFailure, ToolSource};
use crate::domain::providers::ToolSpec;
use crate::domain::Ctx;
use crate::model::AgentView;

pub struct Builtins;

#[async_trait::async_trait]
impl ToolSource for Builtins {
    async fn tools(&self, _ctx: &Ctx, _org_id: Uuid, _agent: &AgentView) -> Vec<Arc<dyn Tool>> {
        vec![Arc::new(GetTime)]
    }
}

/// `get_time {timezone?}` → the server's clock in an IANA time zone
/// (default UTC): `{timezone, localTime, utcTime, weekday, offset,
/// unixSeconds}`. Models do not know what time it is; this is how they
/// find out. Zone rules are bundled, so a server without tzdata answers
/// the same.
struct GetTime;

#[async_trait::async_trait]
impl Tool for GetTime {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_time".into(),
            description: "Tells the current date and time, in a time zone if you name one (IANA, such as \
                          Europe/Paris; default UTC)."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "timezone": {"type": "string", "minLength": 1, "maxLength": 64,
                                 "description": "An IANA time zone name, such as America/New_York."},
                },
                "additionalProperties": false,
            }),
        }
    }

    async fn call(&self, cx: &ToolContext, arguments: Value) -> Result<Value, ToolFailure> {
        let name = arguments["timezone"].as_str().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("UTC");
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| {
            ToolFailure(format!("{name:?} is not a time zone: use an IANA name such as Europe/Paris or UTC"))
        })?;
        let now = cx.ctx.clock.now();
        let instant = jiff::Timestamp::from_microsecond(now.timestamp_micros())
            .map_err(|_| ToolFailure("The server's clock is out of range".into()))?;
        let local = instant.to_zoned(zone);
        Ok(json!({
            "timezone": name,
            "localTime": local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            "utcTime": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "weekday": local.strftime("%A").to_string(),
            "offset": local.strftime("%:z").to_string(),
            "unixSeconds": now.timestamp(),
        }))
    }
}
