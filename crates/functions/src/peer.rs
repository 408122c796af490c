//! Who is on the other end of a loopback TCP connection: the Runtime API serves only the
//! processes of its own environment (issue 17: any local process could poll an environment's
//! events and forge its answers).
//!
//! Linux only, from `/proc`: the peer's socket is the row of `/proc/<pgid>/net/tcp` (the TCP
//! table of the network namespace the environment's first process is in: the host's, or its
//! own, see [`crate::netns`]) whose local address is the peer's and whose remote address is ours; its inode is held, as an open
//! descriptor (`/proc/<pid>/fd/* -> socket:[inode]`), by the processes that own it. A
//! connection is the environment's when one of those processes is in the environment's
//! process group. Reading `/proc/<pid>/fd` of another user's process needs root, which is
//! also when environments run as users of their own; as one user, nuvem reads its own
//! children's.
//!
//! Must not: be on a per-request path (it reads `/proc`: once per connection).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether the process on the peer end of `peer -> local` is in process group `pgid`;
/// `None` when this system cannot tell (no `/proc/net/tcp`).
pub fn in_process_group(peer: SocketAddr, local: SocketAddr, pgid: u32) -> Option<bool> {
    // The group's leader gone, its namespace may be too: the host's table, where an inside
    // connection is not, so it is refused.
    let table = std::fs::read_to_string(format!("/proc/{pgid}/net/tcp"))
        .or_else(|_| std::fs::read_to_string("/proc/net/tcp"))
        .ok()?;
    let Some(inode) = socket_inode(&table, peer, local) else {
        // The peer's socket is gone (it closed already) or not IPv4 loopback: nothing to serve.
        return Some(false);
    };
    let wanted = format!("socket:[{inode}]");
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return None;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if process_group(pid) != Some(pgid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == wanted.as_str()) {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// The process group of `pid` (the fifth field of `/proc/<pid>/stat`, counted after the
/// command name, which may hold spaces and parentheses).
pub fn process_group(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// The inode of the socket with local address `local_of_socket` and remote `remote_of_socket`
/// in a `/proc/net/tcp` table.
fn socket_inode(
    table: &str,
    local_of_socket: SocketAddr,
    remote_of_socket: SocketAddr,
) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, inode) = (f.get(1)?, f.get(2)?, f.get(9)?);
        (parse_addr(local)? == local_of_socket && parse_addr(remote)? == remote_of_socket)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

/// `0100007F:1F90` → 127.0.0.1:8080 (the address as the kernel holds it, in host order).
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(ip.to_ne_bytes())),
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_rows() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:9433 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1063099 1 0 100 0 0 10 0\n\
   3: 0100007F:C440 0100007F:8A49 01 00000000:00000000 03:000008CF 00000000     0        0 4242 3 0\n";
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(
                socket_inode(table, a("127.0.0.1:50240"), a("127.0.0.1:35401")),
                Some(4242)
            );
            assert_eq!(
                socket_inode(table, a("127.0.0.1:50240"), a("127.0.0.1:1")),
                None
            );
            assert_eq!(parse_addr("0100007F:1F90"), Some(a("127.0.0.1:8080")));
        }
        assert_eq!(parse_addr("zz:1"), None);
    }

    #[test]
    fn own_connection_is_ours() {
        if !std::path::Path::new("/proc/net/tcp").exists() {
            return;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(local).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        let own = process_group("self").unwrap();
        assert_eq!(in_process_group(peer, local, own), Some(true));
        assert_eq!(in_process_group(peer, local, own + 1), Some(false));
        drop(client);
    }
}
