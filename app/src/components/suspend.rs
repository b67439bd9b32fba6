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
