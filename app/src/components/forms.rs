//! Form pieces shared by every page: labelled fields and error messages
//! tied to their field and announced to screen readers.

use leptos::prelude::*;

use crate::components::billing_card::{is_payment_required, BillingCard};
use crate::components::step_up::{is_step_up_required, StepUpPrompt};
use crate::model::AppError;

pub const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm text-slate-900 shadow-sm focus:border-indigo-600 focus:outline-none focus:ring-2 focus:ring-indigo-600";
pub const BUTTON: &str = "inline-flex items-center justify-center rounded-md bg-indigo-700 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 focus-visible:ring-offset-2";
pub const BUTTON_SECONDARY: &str = "inline-flex items-center justify-center rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600";
pub const BUTTON_DANGER: &str = "inline-flex items-center justify-center rounded-md bg-red-700 px-3 py-1.5 text-sm font-semibold text-white hover:bg-red-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-600";
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white p-6 shadow-sm";

/// The error of the last submission, if any, as an alert. Errors about a
/// field listed in `inline` are left to that field's own message.
#[component]
pub fn FormError(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional)] inline: &'static [&'static str],
) -> impl IntoView {
    move || error.get().filter(|e| !e.field().is_some_and(|f| inline.contains(&f))).map(error_view)
}

/// A labelled input; when the error names this field, it is tied to it
/// with `aria-describedby` and `aria-invalid`.
#[component]
pub fn Field(
    #[prop(into)] label: String,
    #[prop(into)] name: String,
    #[prop(into, default = "text".to_string())] kind: String,
    #[prop(into, optional)] autocomplete: Option<String>,
    #[prop(into, optional)] hint: Option<String>,
    #[prop(into, optional)] error: Option<Signal<Option<AppError>>>,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let id = format!("field-{name}");
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let field_name = name.clone();
    let field_error =
        move || error.and_then(|e| e.get()).filter(|e| e.field() == Some(field_name.as_str())).map(|e| e.message);
    let invalid = {
        let f = field_error.clone();
        move || f().is_some().then_some("true")
    };
    let described = {
        let f = field_error.clone();
        let err_id = err_id.clone();
        let hint_id = hint_id.clone();
        let has_hint = hint.is_some();
        move || {
            let mut ids = Vec::new();
            if has_hint {
                ids.push(hint_id.clone());
            }
            if f().is_some() {
                ids.push(err_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div>
            <label for=id.clone() class="block text-sm font-medium text-slate-800">{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                required=required
                aria-invalid=invalid
                aria-describedby=described
                class=INPUT
            />
            {hint.map(|h| view! { <p id=hint_id class="mt-1 text-xs text-slate-600">{h}</p> })}
            {move || {
                field_error().map(|m| view! { <p id=err_id.clone() role="alert" class="mt-1 text-sm text-red-700">{m}</p> })
            }}
        </div>
    }
}

/// The error of an action's last call. When the server asks for a
/// step-up, the step-up dialog opens and, once it succeeds, the action is
/// dispatched again with the same input: what the user typed is not lost.
pub fn action_error<I, O>(action: ServerAction<I>) -> Signal<Option<AppError>>
where
    I: server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    if let Some(prompt) = use_context::<StepUpPrompt>() {
        // `input` is only set while the call is in flight: keep a copy.
        let last_input = StoredValue::new(None::<I>);
        Effect::new(move |_| {
            if let Some(input) = action.input().get() {
                last_input.set_value(Some(input));
            }
        });
        Effect::new(move |_| {
            if action.value().with(|v| matches!(v, Some(Err(e)) if is_step_up_required(e))) {
                prompt.ask(move || {
                    if let Some(input) = last_input.get_value() {
                        action.dispatch(input);
                    }
                });
            }
        });
    }
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}

/// Renders loaded data with `f`, or the load error as an alert.
pub fn loaded<T, V: IntoView + 'static>(result: Result<T, AppError>, f: impl FnOnce(T) -> V) -> AnyView {
    match result {
        Ok(data) => f(data).into_any(),
        Err(e) => error_view(e),
    }
}

/// An error as an alert; a 402 as the billing card with "Buy credits".
pub fn error_view(e: AppError) -> AnyView {
    if is_payment_required(&e) {
        return view! { <BillingCard error=e/> }.into_any();
    }
    view! {
        <p role="alert" class="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">{e.message}</p>
    }
    .into_any()
}
