//! The dashboard's resources, and how their data travels from the server's
//! render to the browser that hydrates it.

use std::future::Future;

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A resource of the dashboard: a `Resource` whose data crosses to the
/// browser as [`PageJson`].
pub type PageResource<T> = Resource<T, PageJson>;

/// `Resource::new` with the [`PageJson`] encoding.
#[track_caller]
pub fn page_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> PageResource<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// JSON with its double quotes written as single quotes (and a single
/// quote inside a string as the JSON escape `\u0027`), read back by
/// swapping them again.
///
/// Why: Leptos writes each resolved resource into the page as a JavaScript
/// string literal made with Rust's `Debug` formatting, which escapes every
/// `"` one at a time through the formatter. JSON has two for every key, so
/// that escaping was about 5 % of the overview page's server time and 10 %
/// of the billing page's (callgrind); a single quote is left as it is. The
/// swap itself is one `replace` over the text (two when it holds a `'`).
pub struct PageJson;

impl<T: Serialize> Encoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val).map(|json| swap_quotes(&json))
    }
}

impl<T: DeserializeOwned> Decoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(&val.replace('\'', "\""))
    }
}

/// `"` → `'`, after `'` → `\u0027`. JSON has a `'` only inside a string,
/// where the escape means the same.
fn swap_quotes(json: &str) -> String {
    let escaped;
    let json = if json.contains('\'') {
        escaped = json.replace('\'', "\\u0027");
        &escaped
    } else {
        json
    };
    json.replace('"', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_through_single_quotes() {
        let value = serde_json::json!({
            "name": "O'Brien said \"hi\" <b>&</b>",
            "items": [1, 2.5, null, true, "'", "\"", "\\", "\u{e9}\u{1f600}"],
            "nested": {"key's": "it's"},
        });
        let encoded = <PageJson as Encoder<serde_json::Value>>::encode(&value).unwrap();
        assert!(!encoded.contains('"'), "{encoded}");
        let decoded: serde_json::Value = <PageJson as Decoder<serde_json::Value>>::decode(&encoded).unwrap();
        assert_eq!(decoded, value);
    }
}
