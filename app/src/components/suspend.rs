//! The content of a `<Suspense>`, built once per server render.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use leptos::prelude::*;

/// `Suspend::new(content)`, except that on the server `content` runs only
/// when the page is rendered for real, not while `<Suspense>` looks it over.
///
/// On the server a `<Suspense>` walks its children before it renders them
/// (leptos' `dry_resolve`, to learn which resources they read) and walks
/// them again once those have loaded; every walk calls the children's
/// closure, and a `Suspend` whose data is already there builds its whole
/// view on the spot, only for the walk to drop it. Counted with callgrind
/// on the overview page: its content, and the frame's top bar, were built
/// three times for every request. Giving way once before `content` makes
/// those walks find it pending, so it is built once, by the render. The
/// resources themselves start loading when they are created, as before;
/// the `async` SSR mode every route uses waits for the content either way.
/// In the browser nothing changes: hydration needs the content at the
/// first poll, which it gets.
pub fn suspend<V, F>(content: F) -> Suspend<V>
where
    F: IntoFuture<Output = V>,
    F::IntoFuture: Send + 'static,
{
    let content = content.into_future();
    Suspend::new(async move {
        if cfg!(feature = "ssr") {
            GiveWay(false).await;
        }
        content.await
    })
}

/// Pending at its first poll (asking to be polled again at once), ready
/// at the next.
struct GiveWay(bool);

impl Future for GiveWay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use any_spawner::Executor;
    use futures::StreamExt;
    use leptos::prelude::*;

    use super::suspend;

    /// Renders a `<Suspense>` as the server does and counts how many times
    /// its content was built; `once` picks `suspend` over `Suspend::new`.
    async fn render(once: bool) -> (String, usize) {
        _ = Executor::init_tokio();
        let owner = Owner::new();
        owner.set();
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&builds);
        let content = move || {
            let counted = Arc::clone(&counted);
            let build = async move {
                counted.fetch_add(1, Ordering::SeqCst);
                view! { <p>"ready"</p> }
            };
            if once {
                suspend(build)
            } else {
                Suspend::new(build)
            }
        };
        let page = view! { <Suspense fallback=|| "loading">{content}</Suspense> };
        let html = page.to_html_stream_in_order().collect::<String>().await;
        (html, builds.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn the_content_is_built_once_and_rendered() {
        let (html, builds) = render(true).await;
        assert!(html.starts_with("<p>ready"), "{html}");
        assert_eq!(builds, 1);
    }

    #[tokio::test]
    async fn without_it_suspense_builds_ready_content_more_than_once() {
        let (html, builds) = render(false).await;
        assert!(html.starts_with("<p>ready"), "{html}");
        assert!(builds > 1, "leptos built it {builds} time(s): `suspend` may no longer be needed");
    }
}
