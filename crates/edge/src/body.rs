//! A response body that is being stored while it arrives, readable by any number of viewers
//! at once: each reader gets the chunks received so far and then waits for the next. This is
//! how coalesced requests are streamed a body that is still arriving.
//!
//! Must not: block (readers wait on a watch channel), or lose a wake-up: a reader subscribes
//! and marks the channel seen before it looks at the chunks, so a push after the look wakes
//! it (a push with no reader subscribed wakes nobody, and a reader subscribing later sees it
//! when it looks).

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::stream;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use nuvem_aws::{Body, BoxError, full_body};
use tokio::sync::watch;

#[derive(Debug)]
struct State {
    /// As received; once whole, merged into one chunk (`merged`), so hits are served with one
    /// write instead of one per network read.
    chunks: Vec<Bytes>,
    merged: bool,
    /// The merged chunk's handle for `sendfile`, when large enough (see `sendfile`).
    fileable: Option<Arc<crate::sendfile::Fileable>>,
    len: u64,
    /// `None` while arriving; then whether it arrived whole.
    done: Option<Result<(), String>>,
}

/// A body shared between the task filling it and its readers.
#[derive(Debug)]
pub struct SharedBody {
    state: Mutex<State>,
    changed: watch::Sender<()>,
}

impl SharedBody {
    /// An empty body still arriving.
    pub fn arriving() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                chunks: Vec::new(),
                merged: false,
                fileable: None,
                len: 0,
                done: None,
            }),
            changed: watch::channel(()).0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a reader panicked elsewhere; the chunks are still valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        {
            let mut s = self.lock();
            s.len += chunk.len() as u64;
            s.chunks.push(chunk);
        }
        self.notify();
    }

    pub fn finish(&self, result: Result<(), String>) {
        {
            let mut s = self.lock();
            if s.done.is_none() {
                // Also a body that came as one chunk: that chunk is a slice of the buffer
                // the origin's response was read into, and would keep all of it alive for
                // as long as the entry is cached (the caches weigh the body, not the
                // buffer). One copy at the fill, into an allocation of the body's size.
                if result.is_ok() && !s.chunks.is_empty() {
                    let (whole, fileable) = crate::sendfile::whole(&s.chunks, s.len as usize);
                    s.chunks = vec![whole];
                    s.merged = true;
                    s.fileable = fileable;
                }
                s.done = Some(result);
            }
        }
        self.notify();
    }

    /// Wakes the readers waiting for a change, if there are any (a watch channel wakes its
    /// eight internal queues whether or not anyone waits, twice per miss). Skipping it with no
    /// receiver loses nothing: a reader subscribes before it looks at the state, under the
    /// lock this change was made under, so a reader that subscribes after this check still
    /// sees the change, and one that subscribed before it is counted here.
    fn notify(&self) {
        if self.changed.receiver_count() > 0 {
            self.changed.send_replace(());
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.lock().len
    }

    /// Bytes this body may hold in memory: twice its length when large enough to be filed
    /// for `sendfile` at its first hit (counted so before, as the tiers weigh an entry once).
    pub fn held(&self) -> u64 {
        let s = self.lock();
        if s.len >= crate::sendfile::MIN_LEN as u64 {
            s.len * 2
        } else {
            s.len
        }
    }

    /// `Some(true)` when whole, `Some(false)` when it failed, `None` while arriving.
    pub fn state(&self) -> Option<bool> {
        self.lock().done.as_ref().map(|r| r.is_ok())
    }

    /// The chunks, when the body is whole.
    pub fn whole(&self) -> Option<Vec<Bytes>> {
        let s = self.lock();
        matches!(s.done, Some(Ok(()))).then(|| s.chunks.clone())
    }

    /// Waits until the body is whole and returns its chunks, or the failure.
    pub async fn wait(&self) -> Result<Vec<Bytes>, String> {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let s = self.lock();
                match &s.done {
                    Some(Ok(())) => return Ok(s.chunks.clone()),
                    Some(Err(e)) => return Err(e.clone()),
                    None => {}
                }
            }
            if rx.changed().await.is_err() {
                return Err("body abandoned".into());
            }
        }
    }

    /// A streaming reader from the first byte.
    pub fn reader(self: &Arc<Self>) -> Body {
        {
            // A large whole body is filed for `sendfile` when first served (once; outside
            // the lock).
            let fileable = {
                let s = self.lock();
                matches!(s.done, Some(Ok(())))
                    .then(|| s.fileable.clone())
                    .flatten()
            };
            if let Some(f) = fileable {
                f.file();
            }
            let s = self.lock();
            if let Some(Ok(())) = s.done {
                // The common case, a cache hit: no waiting machinery at all.
                return match s.chunks.as_slice() {
                    [] => full_body(Bytes::new()),
                    [one] => full_body(one.clone()),
                    many => {
                        let frames: Vec<Result<Frame<Bytes>, BoxError>> =
                            many.iter().map(|c| Ok(Frame::data(c.clone()))).collect();
                        StreamBody::new(stream::iter(frames)).boxed_unsync()
                    }
                };
            }
        }
        let rx = self.changed.subscribe();
        // Readers track the byte offset too: the chunks may be merged under them.
        let st = (self.clone(), 0usize, 0usize, rx);
        let s = stream::unfold(st, |(body, idx, offset, mut rx)| async move {
            if idx == usize::MAX {
                return None;
            }
            loop {
                rx.borrow_and_update();
                {
                    let s = body.lock();
                    if s.merged {
                        let whole = s.chunks.first().cloned().unwrap_or_default();
                        drop(s);
                        if offset >= whole.len() {
                            return None;
                        }
                        let rest = whole.slice(offset..);
                        return Some((Ok(Frame::data(rest)), (body, usize::MAX, whole.len(), rx)));
                    }
                    if let Some(c) = s.chunks.get(idx) {
                        let c = c.clone();
                        drop(s);
                        let next = offset + c.len();
                        return Some((Ok(Frame::data(c)), (body, idx + 1, next, rx)));
                    }
                    match &s.done {
                        Some(Ok(())) => return None,
                        Some(Err(e)) => {
                            let e: BoxError = e.clone().into();
                            drop(s);
                            // One error frame, then the stream ends.
                            return Some((Err(e), (body, usize::MAX, offset, rx)));
                        }
                        None => {}
                    }
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        });
        StreamBody::new(s).boxed_unsync()
    }
}

/// Ends a body as failed if the task filling it stops before finishing it (dropped, or
/// panicked), so its readers never wait forever.
pub struct FinishGuard(pub Arc<SharedBody>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0
            .finish(Err("the origin response was abandoned".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(body: Body) -> Result<Vec<u8>, String> {
        body.collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Readers that start before, during and after the body arrives all get every byte, and
    /// a waiter gets the chunks once the body is whole.
    #[tokio::test]
    async fn readers_at_every_moment_get_the_whole_body() {
        let body = SharedBody::arriving();
        let early = tokio::spawn(read_all(body.reader()));
        let waiter = {
            let body = body.clone();
            tokio::spawn(async move { body.wait().await })
        };
        tokio::task::yield_now().await;
        body.push(Bytes::from_static(b"hello "));
        let middle = tokio::spawn(read_all(body.reader()));
        tokio::task::yield_now().await;
        body.push(Bytes::from_static(b"world"));
        body.finish(Ok(()));
        let late = read_all(body.reader()).await;
        for got in [early.await.unwrap(), middle.await.unwrap(), late] {
            assert_eq!(got.unwrap(), b"hello world");
        }
        assert_eq!(waiter.await.unwrap().unwrap().concat(), b"hello world");
    }

    /// A body pushed and finished with no reader at all (a miss read whole) is read whole
    /// afterwards, and a failure reaches a reader that was waiting.
    #[tokio::test]
    async fn no_reader_then_readers_and_failures() {
        let body = SharedBody::arriving();
        body.push(Bytes::from_static(b"abc"));
        body.finish(Ok(()));
        assert_eq!(read_all(body.reader()).await.unwrap(), b"abc");
        assert_eq!(body.wait().await.unwrap().concat(), b"abc");

        let failing = SharedBody::arriving();
        let reader = tokio::spawn(read_all(failing.reader()));
        tokio::task::yield_now().await;
        failing.push(Bytes::from_static(b"ab"));
        failing.finish(Err("origin reset".into()));
        assert!(reader.await.unwrap().unwrap_err().contains("origin reset"));
    }
}
