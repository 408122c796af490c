//! A TCP connection terminated inside the tunnel, as the binary sees it: an
//! `AsyncRead + AsyncWrite` whose bytes the endpoint's task moves to and from its smoltcp
//! socket. The two sides share a [`Pipe`] (bounded buffers both ways, so a slow reader holds
//! the peer back through TCP's window instead of growing memory).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// How many bytes each direction holds between the socket and the stream.
pub(crate) const PIPE_CAP: usize = 64 * 1024;

#[derive(Default)]
pub(crate) struct Pipe {
    /// From the peer, not yet read by the stream.
    pub inbound: VecDeque<u8>,
    /// From the stream, not yet taken by the socket.
    pub outbound: VecDeque<u8>,
    /// The peer will send nothing more (FIN, or the connection is gone).
    pub eof: bool,
    /// The connection is over (reset, or closed both ways): writes fail.
    pub reset: bool,
    /// The stream shut its writing half down.
    pub write_closed: bool,
    /// The stream was dropped.
    pub dropped: bool,
    pub read_waker: Option<Waker>,
    pub write_waker: Option<Waker>,
}

impl Pipe {
    pub fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    pub fn wake_writer(&mut self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

pub(crate) type Shared = Arc<Mutex<Pipe>>;

pub(crate) fn lock(pipe: &Shared) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(|p| p.into_inner())
}

/// One accepted connection from a peer, to a port of the private plane.
pub struct TunnelStream {
    pipe: Shared,
    /// The endpoint's task: told when there is something to send or room to receive.
    engine: Arc<Notify>,
}

impl TunnelStream {
    pub(crate) fn new(pipe: Shared, engine: Arc<Notify>) -> Self {
        TunnelStream { pipe, engine }
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut p = lock(&self.pipe);
        if p.inbound.is_empty() {
            if p.eof {
                return Poll::Ready(Ok(()));
            }
            p.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let was_full = p.inbound.len() >= PIPE_CAP;
        let n = buf.remaining().min(p.inbound.len());
        let (a, b) = p.inbound.as_slices();
        let from_a = n.min(a.len());
        buf.put_slice(&a[..from_a]);
        buf.put_slice(&b[..n - from_a]);
        p.inbound.drain(..n);
        drop(p);
        if was_full {
            self.engine.notify_one();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut p = lock(&self.pipe);
        if p.reset || p.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = PIPE_CAP.saturating_sub(p.outbound.len());
        if room == 0 {
            p.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        p.outbound.extend(&buf[..n]);
        drop(p);
        self.engine.notify_one();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // What is written is the task's to send, as a kernel socket's buffer would be.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.pipe).write_closed = true;
        self.engine.notify_one();
        Poll::Ready(Ok(()))
    }
}

impl Drop for TunnelStream {
    fn drop(&mut self) {
        lock(&self.pipe).dropped = true;
        self.engine.notify_one();
    }
}
