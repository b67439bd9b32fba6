#![recursion_limit = "512"]
//! The browser entry: hydrates the server-rendered dashboard, once the
//! current page's lazily loaded chunk is in (`app::routes`).

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
