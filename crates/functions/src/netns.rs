//! A network namespace of its own for each execution environment (issue 17): only `lo` is up,
//! the environment's Runtime API listens inside it at `127.0.0.1:9001` (the address AWS gives
//! runtimes), and the private plane (the AWS endpoint) is reachable inside at
//! `127.0.0.1:<its port>`, forwarded to the real listener on the host. Nothing else exists in
//! there: no route out, no other process's listener, no other environment's Runtime API.
//!
//! How, without `ip`, veth pairs or a helper process: a network namespace belongs to a
//! thread (`unshare(CLONE_NEWNET)` changes only the calling thread's), a socket stays in the
//! namespace it was created in, and a child process starts in its parent thread's namespace.
//! So [`spawn_inside`] runs on a new thread of its own (never a thread of the async runtime,
//! whose sockets must stay on the host): it unshares the network, brings `lo` up through a
//! netlink socket (`RTM_NEWLINK`, the message `ip link set lo up` sends), binds the
//! listeners, and spawns the environment's process, then ends. The listeners go back to the
//! async runtime, which serves them from nuvem's own threads; the namespace lives as long as
//! the process and the listeners do. [`forward`] splices each connection to an inside
//! listener to the host's address (the connection to the host is made from an async worker,
//! so on the host's network).
//!
//! Needs `CAP_SYS_ADMIN` (root); [`works`] is the start-up probe. Must not: run any of this on
//! a thread that is reused afterwards.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use nix::libc;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

/// Where runtimes find the Runtime API on AWS (`AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001`).
pub const RUNTIME_API_PORT: u16 = 9001;

/// The loopback device's index: the kernel creates it first in every network namespace,
/// with this fixed index (`LOOPBACK_IFINDEX`).
const LOOPBACK_INDEX: i32 = 1;

/// The listeners made inside a new network namespace.
#[derive(Debug)]
pub struct Inside {
    /// The Runtime API's listener (`127.0.0.1:9001`, or an ephemeral port when the private
    /// plane already uses 9001).
    pub runtime_api: std::net::TcpListener,
    /// One listener per private-plane address, at `127.0.0.1:<its port>` inside, with the
    /// host address it forwards to.
    pub forwards: Vec<(std::net::TcpListener, SocketAddr)>,
}

/// Makes a new network namespace on a thread of its own, binds the Runtime API and the
/// forwards of `plane` in it, then calls `spawn` (on that thread, with the Runtime API's
/// inside address) to start the process that lives in the namespace. Blocks until done.
pub fn spawn_inside<T: Send + 'static>(
    plane: Vec<SocketAddr>,
    spawn: impl FnOnce(SocketAddr) -> io::Result<T> + Send + 'static,
) -> io::Result<(Inside, T)> {
    std::thread::Builder::new()
        .name("lambda-netns".into())
        .spawn(move || {
            enter_new()?;
            let inside = bind_inside(&plane)?;
            let addr = inside.runtime_api.local_addr()?;
            let spawned = spawn(addr)?;
            Ok((inside, spawned))
        })?
        .join()
        .map_err(|_| io::Error::other("the network namespace thread panicked"))?
}

/// Puts the calling thread in a new network namespace with `lo` up.
fn enter_new() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| io::Error::other(format!("unshare(CLONE_NEWNET): {e}")))?;
    loopback_up()
}

fn bind_inside(plane: &[SocketAddr]) -> io::Result<Inside> {
    let loopback = |port| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let listen = |port| {
        let l = std::net::TcpListener::bind(loopback(port))?;
        l.set_nonblocking(true)?;
        Ok::<_, io::Error>(l)
    };
    let mut forwards = Vec::new();
    for to in plane {
        if forwards
            .iter()
            .any(|(_, t): &(std::net::TcpListener, SocketAddr)| t.port() == to.port())
        {
            continue;
        }
        let to = match to.ip() {
            ip if ip.is_unspecified() => loopback(to.port()),
            _ => *to,
        };
        forwards.push((listen(to.port())?, to));
    }
    let api_port = if plane.iter().any(|p| p.port() == RUNTIME_API_PORT) {
        0
    } else {
        RUNTIME_API_PORT
    };
    Ok(Inside {
        runtime_api: listen(api_port)?,
        forwards,
    })
}

/// `ip link set lo up`: one `RTM_NEWLINK` request on a route netlink socket, and its ack.
fn loopback_up() -> io::Result<()> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(io::Error::from)?;
    // nlmsghdr (16 bytes) then ifinfomsg (16 bytes), in the host's byte order.
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    msg.push(libc::AF_UNSPEC as u8);
    msg.push(0);
    msg.extend_from_slice(&0u16.to_ne_bytes()); // device type
    msg.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes());
    let up = libc::IFF_UP as u32;
    msg.extend_from_slice(&up.to_ne_bytes()); // flags
    msg.extend_from_slice(&up.to_ne_bytes()); // the flags to change
    sendto(
        fd.as_raw_fd(),
        &msg,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut reply = [0u8; 256];
    let n = recv(fd.as_raw_fd(), &mut reply, MsgFlags::empty()).map_err(io::Error::from)?;
    netlink_ack(reply.get(..n).unwrap_or_default())
}

/// Reads a netlink ack: an `NLMSG_ERROR` message whose error is 0 (or `-errno`).
fn netlink_ack(reply: &[u8]) -> io::Result<()> {
    let field = |at: usize, len: usize| reply.get(at..at + len);
    let kind = field(4, 2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_ne_bytes);
    let error = field(16, 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes);
    match (kind, error) {
        (Some(k), Some(0)) if k == libc::NLMSG_ERROR as u16 => Ok(()),
        (Some(k), Some(e)) if k == libc::NLMSG_ERROR as u16 => {
            Err(io::Error::from_raw_os_error(-e))
        }
        _ => Err(io::Error::other("bringing lo up: unexpected netlink reply")),
    }
}

/// Whether this host gives environments network namespaces: a new one can be made, its
/// `lo` brought up, and a connection made over it.
pub fn works() -> bool {
    let probe = std::thread::Builder::new()
        .name("lambda-netns-probe".into())
        .spawn(|| {
            enter_new()?;
            let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            std::net::TcpStream::connect(l.local_addr()?)?;
            Ok::<_, io::Error>(())
        });
    match probe.map(|t| t.join()) {
        Ok(Ok(Ok(()))) => true,
        Ok(Ok(Err(e))) => {
            tracing::debug!(error = %e, "lambda: no network namespaces");
            false
        }
        _ => false,
    }
}

/// Serves an inside listener: each connection is spliced to `to` (a connection made from the
/// async runtime's thread, on the host's network). Ends when the task is aborted; the
/// connections in flight end with it.
pub fn forward(
    listener: std::net::TcpListener,
    to: SocketAddr,
) -> io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inside, _)) = listener.accept().await else {
                continue;
            };
            connections.spawn(async move {
                let Ok(mut host) = tokio::net::TcpStream::connect(to).await else {
                    return;
                };
                let _ = inside.set_nodelay(true);
                let _ = host.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inside, &mut host).await;
            });
            while connections.try_join_next().is_some() {}
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        crate::isolation::running_as_root()
    }

    #[test]
    fn ack_parsing() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        assert!(netlink_ack(&ack).is_ok());
        ack[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            netlink_ack(&ack).unwrap_err().raw_os_error(),
            Some(libc::EPERM)
        );
        assert!(netlink_ack(&ack[..10]).is_err());
        ack[4..6].copy_from_slice(&(libc::RTM_NEWLINK).to_ne_bytes());
        assert!(netlink_ack(&ack).is_err());
    }

    /// As root: a child spawned from [`spawn_inside`] is in another network namespace than
    /// this process, reaches the Runtime API and the forwarded port on its loopback, and
    /// cannot reach a listener on the host's loopback; the host cannot reach the inside
    /// Runtime API either.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_child_spawned_inside_sees_only_its_own_loopback() {
        if !root() {
            eprintln!("SKIPPED a_child_spawned_inside_sees_only_its_own_loopback: needs root");
            return;
        }
        // A host listener the child must reach through the forward, and one it must not.
        let endpoint = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint_addr = endpoint.local_addr().unwrap();
        let private = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let private_port = private.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let (mut s, _) = endpoint.accept().await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut s, b"from the host")
                .await
                .unwrap();
        });
        // The child reads `port:reply` lines: bash's /dev/tcp connects from inside.
        let script = format!(
            "for p in {api} {ep} {private_port}; do \
               if exec 3<>/dev/tcp/127.0.0.1/$p; then echo \"$p:ok:$(timeout 2 head -c 13 <&3)\"; exec 3<&-; \
               else echo \"$p:refused\"; fi; done 2>/dev/null",
            api = RUNTIME_API_PORT,
            ep = endpoint_addr.port(),
        );
        let handle = tokio::runtime::Handle::current();
        let (inside, child) = spawn_inside(vec![endpoint_addr], move |api| {
            assert_eq!(api.port(), RUNTIME_API_PORT);
            let _rt = handle.enter();
            tokio::process::Command::new("bash")
                .args(["-c", &script])
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .unwrap();
        let child_pid = child.id().unwrap();
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let theirs = std::fs::read_link(format!("/proc/{child_pid}/ns/net")).unwrap();
        assert_ne!(ours, theirs, "the child shares nuvem's network namespace");
        // The host has nothing of the inside: connecting to 127.0.0.1:9001 here does not
        // reach the environment's listener (which is not accepted from, so a connection
        // there would stay in its backlog: none may arrive).
        let api = tokio::net::TcpListener::from_std(inside.runtime_api).unwrap();
        let _ = std::net::TcpStream::connect(("127.0.0.1", RUNTIME_API_PORT));
        let mut forwards = Vec::new();
        for (l, to) in inside.forwards {
            assert_eq!(to, endpoint_addr);
            forwards.push(forward(l, to).unwrap());
        }
        let accepting = tokio::spawn(async move {
            let (mut s, peer) = api.accept().await.unwrap();
            assert!(peer.ip().is_loopback());
            tokio::io::AsyncWriteExt::write_all(&mut s, b"runtime api..")
                .await
                .unwrap();
        });
        let out = child.wait_with_output().await.unwrap();
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out,
            format!(
                "{RUNTIME_API_PORT}:ok:runtime api..\n{}:ok:from the host\n{private_port}:refused\n",
                endpoint_addr.port()
            )
        );
        accepting.await.unwrap();
        served.await.unwrap();
        drop(private);
        for f in forwards {
            f.abort();
        }
    }

    #[test]
    fn the_probe_agrees_with_root() {
        if !root() {
            eprintln!("SKIPPED the_probe_agrees_with_root: needs root");
            return;
        }
        assert!(works());
    }
}
