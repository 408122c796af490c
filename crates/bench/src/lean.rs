//! A lean HTTP/1.1 GET client for the edge scenarios, so the load generator is not what
//! the edge rows measure.
//!
//! The edge group runs every server on one CPU and the load generator (with the in-process
//! origin) on the other. With hyper's client, a 100 KiB hit cost the generator more than it
//! cost the server: its CPU sat at 95–99 % while the server's had room, and nuvem, nginx
//! and Varnish all came out at the generator's rate. This client keeps a connection per
//! concurrent request, writes each request head in one write, parses the response head with
//! `httparse`, and discards the body in the kernel (`recv` with `MSG_TRUNC`, tcp(7): the
//! bytes are consumed and counted, not copied out), so every byte still crosses the socket
//! and is counted against the response's framing, and nothing else is spent on it.
//!
//! Must not: pipeline (one request per connection at a time), trust a response's framing
//! beyond what it says (`Content-Length` or chunked; anything else is read to the end and the
//! connection dropped), or wait for an answer longer than [`ANSWER_TIMEOUT`]. Anything
//! unexpected is an error of the operation, never a guess.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail, ensure};
use nix::sys::socket::{MsgFlags, recv};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::load;

/// How long one request may take, connection and whole answer included: a server that stops
/// answering fails the phase instead of hanging the run.
pub const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest response head read before giving up.
const MAX_HEAD: usize = 64 * 1024;

/// How many body bytes one `recv` may discard (the area is never written: see `Conn`).
const DISCARD: usize = 1 << 20;

/// Keep-alive connections to one server, each used by one request at a time.
pub struct Lean {
    addr: SocketAddr,
    host: String,
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    stream: TcpStream,
    /// What was read and not yet used: the response head and whatever came with it.
    buf: Vec<u8>,
    /// The address range handed to `recv` with `MSG_TRUNC`; the kernel consumes the bytes
    /// without copying them into it, so its pages are never touched (a zeroed allocation
    /// this large is mapped lazily: it costs no memory).
    discard: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(8 * 1024),
            discard: vec![0; DISCARD],
        })
    }

    /// Reads more into `buf`; false at the end of the stream.
    async fn fill(&mut self) -> anyhow::Result<bool> {
        self.buf.reserve(8 * 1024);
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// Consumes `n` bytes of the stream without copying them out.
    async fn skip(&mut self, mut n: u64) -> anyhow::Result<()> {
        let from_buf = n.min(self.buf.len() as u64) as usize;
        self.buf.drain(..from_buf);
        n -= from_buf as u64;
        while n > 0 {
            self.stream.readable().await?;
            let want = n.min(DISCARD as u64) as usize;
            let fd = self.stream.as_raw_fd();
            let area = &mut self.discard[..want];
            let got = self.stream.try_io(Interest::READABLE, || {
                recv(fd, area, MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT)
                    .map_err(std::io::Error::from)
            });
            match got {
                Ok(0) => bail!("the connection closed with {n} bytes of the body missing"),
                Ok(k) => n = n.saturating_sub(k as u64),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// A line (without its CRLF) from `buf`, reading more as needed.
    async fn line(&mut self) -> anyhow::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            ensure!(self.buf.len() < MAX_HEAD, "a chunk line longer than 64 KiB");
            ensure!(
                self.fill().await?,
                "the connection closed inside a chunked body"
            );
        }
    }

    /// A chunked body's length (its chunks discarded, its trailers read).
    async fn chunked(&mut self) -> anyhow::Result<u64> {
        let mut total = 0u64;
        loop {
            let line = self.line().await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size =
                u64::from_str_radix(size, 16).with_context(|| format!("a chunk size {size:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line().await?.is_empty() {}
                return Ok(total);
            }
            self.skip(size).await?;
            total += size;
            ensure!(
                self.line().await?.is_empty(),
                "a chunk not followed by CRLF"
            );
        }
    }

    /// Reads one response; its status, its body's length and whether the connection can
    /// carry another request. `Ok(None)`: the connection ended before a byte of it came.
    async fn response(&mut self) -> anyhow::Result<Option<(u16, u64, bool)>> {
        self.buf.clear();
        // Whether `buf` may hold a head not yet parsed (what followed an interim response).
        let mut parse_first = false;
        let (status, head_len, framing, keep) = loop {
            if !parse_first && !self.fill().await? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                bail!("the connection closed inside a response head");
            }
            parse_first = false;
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf).context("parsing a response head")? {
                httparse::Status::Partial => {
                    ensure!(self.buf.len() < MAX_HEAD, "a response head over 64 KiB");
                }
                // An interim response (100 Continue, 103 Early Hints): the final one follows.
                httparse::Status::Complete(n)
                    if resp
                        .code
                        .is_some_and(|c| (100..200).contains(&c) && c != 101) =>
                {
                    self.buf.drain(..n);
                    parse_first = !self.buf.is_empty();
                }
                httparse::Status::Complete(n) => {
                    let status = resp.code.unwrap_or(0);
                    let mut length = None;
                    let mut chunked = false;
                    let mut keep = resp.version == Some(1);
                    for h in resp.headers.iter() {
                        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let n: u64 = v
                                .parse()
                                .with_context(|| format!("a Content-Length {v:?}"))?;
                            ensure!(
                                length.is_none_or(|l| l == n),
                                "two different Content-Length values"
                            );
                            length = Some(n);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = v.to_ascii_lowercase().ends_with("chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            let v = v.to_ascii_lowercase();
                            if v.contains("close") {
                                keep = false;
                            } else if v.contains("keep-alive") {
                                keep = true;
                            }
                        }
                    }
                    let framing = match (chunked, length) {
                        (true, _) => Framing::Chunked,
                        // No body, whatever the head says of its length.
                        _ if status == 204 || status == 304 || status == 101 => Framing::Length(0),
                        (false, Some(n)) => Framing::Length(n),
                        (false, None) => Framing::ToEnd,
                    };
                    // 101: no longer HTTP (never asked for; the status check refuses it).
                    break (status, n, framing, keep && status != 101);
                }
            }
        };
        self.buf.drain(..head_len);
        let len = match framing {
            Framing::Length(n) => {
                ensure!(
                    self.buf.len() as u64 <= n,
                    "more bytes than the response's Content-Length (a request was not pipelined)"
                );
                self.skip(n).await?;
                n
            }
            Framing::Chunked => self.chunked().await?,
            Framing::ToEnd => {
                let mut n = self.buf.len() as u64;
                self.buf.clear();
                while self.fill().await? {
                    n += self.buf.len() as u64;
                    self.buf.clear();
                }
                return Ok(Some((status, n, false)));
            }
        };
        ensure!(
            self.buf.is_empty(),
            "more bytes than the response's framing says (a request was not pipelined)"
        );
        Ok(Some((status, len, keep)))
    }
}

enum Framing {
    Length(u64),
    Chunked,
    ToEnd,
}

impl Lean {
    /// A client of `base` (`http://host:port`, no path).
    pub fn new(base: &str) -> anyhow::Result<Arc<Self>> {
        let host = base
            .strip_prefix("http://")
            .with_context(|| format!("{base}: the lean client speaks plain http only"))?
            .trim_end_matches('/');
        let addr = host
            .parse()
            .with_context(|| format!("{base}: the lean client needs an IP address and port"))?;
        Ok(Arc::new(Self {
            addr,
            host: host.to_string(),
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// The same server with no connections yet: one per phase, so a phase never inherits
    /// connections another phase left idle.
    pub fn fresh(&self) -> Arc<Self> {
        Arc::new(Self {
            addr: self.addr,
            host: self.host.clone(),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn checkout(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// One GET of `path`; the body's length, or an error when the status is not `expect` or
    /// the answer takes longer than [`ANSWER_TIMEOUT`].
    pub async fn get(&self, path: &str, expect: u16) -> anyhow::Result<u64> {
        tokio::time::timeout(ANSWER_TIMEOUT, self.exchange(path, expect))
            .await
            .map_err(|_| anyhow::anyhow!("GET {path}: no whole answer within {ANSWER_TIMEOUT:?}"))?
    }

    async fn exchange(&self, path: &str, expect: u16) -> anyhow::Result<u64> {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: nuvem-bench/0.1\r\n\r\n",
            self.host
        );
        // A kept connection the server has since closed answers nothing: one more try on a
        // new one, as hyper's client does for a GET.
        let mut reused = self.checkout();
        loop {
            let fresh = reused.is_none();
            let mut conn = match reused.take() {
                Some(c) => c,
                None => Conn::connect(self.addr).await?,
            };
            let sent = conn.stream.write_all(head.as_bytes()).await;
            let answer = match sent {
                Ok(()) => conn.response().await,
                Err(_) if !fresh => continue,
                Err(e) => return Err(e).context(format!("sending GET {path}")),
            };
            let (status, len, keep) = match answer.with_context(|| format!("GET {path}"))? {
                Some(r) => r,
                None if !fresh => continue,
                None => bail!("GET {path}: the connection closed without an answer"),
            };
            if keep {
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
            }
            ensure!(
                status == expect,
                "GET {path}: HTTP {status} (expected {expect})"
            );
            return Ok(len);
        }
    }

    /// GETs of `path(i)` answered 200, as a load-generator operation.
    pub fn get_op(
        self: &Arc<Self>,
        path: impl Fn(u64) -> String + Send + Sync + 'static,
    ) -> load::Op {
        let this = self.clone();
        load::op(move |i| {
            let (this, path) = (this.clone(), path(i));
            async move { this.get(&path, 200).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers every request on a connection with the next of `answers`.
    async fn serve(answers: Vec<Vec<u8>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut answers = answers.into_iter();
            loop {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                // Out of answers: close, the request read (so no reset).
                let Some(a) = answers.next() else { return };
                s.write_all(&a).await.unwrap();
                // After the last answer, close (a short body then ends at the close).
                if answers.len() == 0 {
                    return;
                }
            }
        });
        format!("http://{addr}")
    }

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    async fn check(answers: Vec<Vec<u8>>, expect: &[Result<u64, &str>]) {
        let client = Lean::new(&serve(answers).await).unwrap();
        for (i, want) in expect.iter().enumerate() {
            let got = client.get("/x", 200).await;
            match (want, got) {
                (Ok(n), Ok(m)) => assert_eq!(*n, m, "answer {i}"),
                (Err(part), Err(e)) => {
                    let e = format!("{e:#}");
                    assert!(e.contains(part), "answer {i}: {e}");
                }
                (w, g) => panic!("answer {i}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    fn with_length(n: usize) -> Vec<u8> {
        let mut a = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        a.extend(body(n));
        a
    }

    #[tokio::test]
    async fn framings() {
        // Lengths on one kept connection: small, large (past the discard area), empty.
        check(
            vec![
                with_length(10),
                with_length(3 * DISCARD + 17),
                with_length(0),
            ],
            &[Ok(10), Ok(3 * DISCARD as u64 + 17), Ok(0)],
        )
        .await;
        // Chunked, with an extension and a trailer, then a length on the same connection.
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.extend(b"5;x=y\r\nhello\r\n");
        chunked.extend(format!("{:x}\r\n", 200_000).into_bytes());
        chunked.extend(body(200_000));
        chunked.extend(b"\r\n0\r\nX-T: 1\r\n\r\n");
        check(vec![chunked, with_length(7)], &[Ok(200_005), Ok(7)]).await;
        // An interim response before the final one.
        let mut early = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec();
        early.extend(with_length(9));
        check(vec![early, with_length(2)], &[Ok(9), Ok(2)]).await;
        // No framing: read to the end.
        let mut to_end = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        to_end.extend(body(5000));
        check(vec![to_end], &[Ok(5000)]).await;
    }

    #[tokio::test]
    async fn refusals() {
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!".to_vec();
        check(vec![not_found, with_length(1)], &[Err("HTTP 404"), Ok(1)]).await;
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec();
        check(vec![short], &[Err("bytes of the body missing")]).await;
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nabc".to_vec();
        check(vec![extra], &[Err("more bytes than")]).await;
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\na".to_vec();
        check(vec![two], &[Err("two different")]).await;
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec();
        check(vec![bad_chunk], &[Err("chunk size")]).await;
        check(vec![], &[Err("closed without an answer")]).await;
    }
}
