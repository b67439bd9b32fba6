//! Limits on user-editable JSON (SPEC §6): `metadata` ≤ 32 KB serialized
//! with bounded nesting, project `settings` ≤ 8 KB.

use serde_json::Value;

use super::DomainResult;
use crate::model::AppError;

pub const METADATA_MAX_BYTES: usize = 32 * 1024;
pub const SETTINGS_MAX_BYTES: usize = 8 * 1024;
pub const PROJECT_METADATA_MAX_DEPTH: usize = 12;
pub const METADATA_MAX_DEPTH: usize = 8;

/// Nesting depth: a scalar is 0, `{}` or `[]` is 1, `{"a":{}}` is 2.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Checks a JSON object field against its size and depth caps.
pub fn json_field(field: &str, value: &Value, max_bytes: usize, max_depth: usize) -> DomainResult<()> {
    if !value.is_object() {
        return Err(AppError::validation(field, format!("{field} must be a JSON object")));
    }
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > max_bytes {
        return Err(AppError::validation(field, format!("{field} is {size} bytes; the limit is {max_bytes}")));
    }
    let d = depth(value);
    if d > max_depth {
        return Err(AppError::validation(field, format!("{field} nests {d} levels; the limit is {max_depth}")));
    }
    Ok(())
}

/// What a text may not be made of alone: Unicode whitespace, the four
/// information separators (U+001C–U+001F, which Python's `str.isspace`
/// counts) and U+FEFF (which ECMAScript's `\s` counts). The document's
/// pattern for such texts, `[^\s\u001c-\u001f\u0085\ufeff]`, asks for one
/// character outside all of them under either regex dialect, so the
/// document and the server agree whichever a client checks with.
fn blank(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c) || c == '\u{feff}'
}

/// A required text of at most `max_chars` characters as sent (the limit
/// the document states as `maxLength`), stored trimmed; blank is refused.
pub fn text(field: &str, value: &str, max_chars: usize) -> DomainResult<String> {
    if value.chars().count() > max_chars {
        return Err(AppError::validation(field, format!("{field} must be at most {max_chars} characters")));
    }
    let v = value.trim_matches(blank);
    if v.is_empty() {
        return Err(AppError::validation(field, format!("{field} must not be empty")));
    }
    Ok(v.to_string())
}

/// An optional text of at most `max_chars` characters as sent; blank is
/// the same as absent.
pub fn optional_text(field: &str, value: Option<String>, max_chars: usize) -> DomainResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    if value.chars().count() > max_chars {
        return Err(AppError::validation(field, format!("{field} must be at most {max_chars} characters")));
    }
    let v = value.trim_matches(blank);
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// For partial updates: `Some(None)` for an explicit `null`, `None` (via
/// `#[serde(default)]`) when the field is absent.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": {"b": [1]}})), 3);
    }

    #[test]
    fn texts_are_bounded_as_sent_and_stored_trimmed() {
        assert_eq!(text("name", "  Acme ", 7).unwrap(), "Acme");
        assert!(text("name", "  Acme  ", 7).is_err(), "the limit counts what was sent");
        assert!(text("name", " \u{1c}\t", 10).is_err(), "blank by the document's rule");
        assert_eq!(optional_text("d", Some("  ".into()), 5).unwrap(), None);
        assert_eq!(optional_text("d", Some(" x ".into()), 5).unwrap(), Some("x".into()));
        assert!(optional_text("d", Some("x".repeat(6)), 5).is_err());
    }

    #[test]
    fn caps_are_enforced() {
        assert!(json_field("metadata", &json!({"a": 1}), 100, 2).is_ok());
        assert!(json_field("metadata", &json!([1]), 100, 2).is_err());
        assert!(json_field("metadata", &json!({"a": "x".repeat(200)}), 100, 2).is_err());
        assert!(json_field("metadata", &json!({"a": {"b": {"c": 1}}}), 100, 2).is_err());
    }
}
