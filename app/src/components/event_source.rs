//! Following server-sent events in the browser: an `EventSource` on
//! `/api/v1/sessions/{id}/events` (a run's) or
//! `/api/v1/notifications/stream`, closed when the view that opened it
//! goes away (or, for a run, when it ends). The server ends the stream after
//! `run.finished`; an `EventSource` would reconnect then, so we close it
//! first. A dropped connection reconnects by itself, with `Last-Event-ID`,
//! and the server resumes after it.

/// The event types of SPEC §10 the lab listens to.
pub const RUN_EVENTS: &[&str] = &[
    "run.started",
    "message.delta",
    "tool_call.started",
    "tool_call.finished",
    "session.status",
    "message.completed",
    "billing.required",
    "run.finished",
];

/// The event `follow` reports when the stream closed for good (the
/// server refused it), not one of the run's.
pub const STREAM_CLOSED: &str = "stream.closed";

/// An open stream; dropping it closes the stream.
pub struct Following {
    #[cfg(feature = "hydrate")]
    source: leptos::web_sys::EventSource,
    #[cfg(feature = "hydrate")]
    _listeners: Vec<leptos::wasm_bindgen::closure::Closure<dyn FnMut(leptos::web_sys::MessageEvent)>>,
}

impl Drop for Following {
    fn drop(&mut self) {
        #[cfg(feature = "hydrate")]
        self.source.close();
    }
}

/// The event type of the notifications stream (SPEC §12).
pub const NOTIFICATION_EVENTS: &[&str] = &["notification.created"];

/// Opens `url` and calls `on_event(type, data)` for each event of `kinds`;
/// `None` where there is no browser (the server's render).
#[cfg(feature = "hydrate")]
pub fn follow(
    url: &str,
    kinds: &'static [&'static str],
    on_event: impl Fn(&str, serde_json::Value) + Clone + 'static,
) -> Option<Following> {
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::wasm_bindgen::JsCast;
    use leptos::web_sys::{EventSource, MessageEvent};

    let source = EventSource::new(url).ok()?;
    let mut listeners = Vec::new();
    for kind in kinds {
        let on_event = on_event.clone();
        let name = kind.to_string();
        let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data().as_string().and_then(|text| serde_json::from_str(&text).ok());
            on_event(&name, data.unwrap_or_default());
        });
        source.add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref()).ok()?;
        listeners.push(listener);
    }
    // A stream the server refused (or one the browser gave up on) is
    // closed for good: say so, so the page stops waiting for it.
    let closed = {
        let source = source.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |_event: MessageEvent| {
            if source.ready_state() == EventSource::CLOSED {
                on_event(STREAM_CLOSED, serde_json::Value::Null);
            }
        })
    };
    source.add_event_listener_with_callback("error", closed.as_ref().unchecked_ref()).ok()?;
    listeners.push(closed);
    Some(Following { source, _listeners: listeners })
}

#[cfg(not(feature = "hydrate"))]
pub fn follow(
    _url: &str,
    _kinds: &'static [&'static str],
    _on_event: impl Fn(&str, serde_json::Value) + Clone + 'static,
) -> Option<Following> {
    None
}
