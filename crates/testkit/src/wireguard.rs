//! A WireGuard peer for tests: a second boringtun `Tunn` with a smoltcp TCP client behind it,
//! over a UDP socket on loopback, driven synchronously by the test. It is written apart from
//! nuvem-vpn's endpoint (it initiates, the endpoint responds), so a test of the endpoint
//! does not check the endpoint against itself.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// How an exchange through the tunnel ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exchange {
    /// Connected; these are the bytes the server sent until it closed.
    Response(Vec<u8>),
    /// The connection was refused (a RST before it was established).
    Reset,
    /// No answer before the deadline (the packets went nowhere).
    TimedOut,
}

pub struct WgPeer {
    udp: UdpSocket,
    server: SocketAddr,
    tunn: Tunn,
    iface: Interface,
    device: Queues,
    sockets: SocketSet<'static>,
    next_port: u16,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl WgPeer {
    /// A peer with private key `private` that talks to the endpoint at `server` (whose
    /// public key is `server_public`), using `address` as its inner source address;
    /// `server_inner` is the endpoint's inner address.
    pub fn new(
        private: [u8; 32],
        server_public: [u8; 32],
        preshared: Option<[u8; 32]>,
        server: SocketAddr,
        address: Ipv4Addr,
        server_inner: Ipv4Addr,
    ) -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind the peer's UDP socket");
        udp.set_read_timeout(Some(Duration::from_millis(5)))
            .expect("read timeout");
        let tunn = Tunn::new(
            StaticSecret::from(private),
            PublicKey::from(server_public),
            preshared,
            None,
            7,
            None,
        );
        let mut device = Queues::default();
        let mut config = smoltcp::iface::Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from(std::process::id());
        let mut iface = Interface::new(config, &mut device, smoltcp::time::Instant::now());
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(address), 32))
                .expect("one address");
        });
        iface
            .routes_mut()
            .add_default_ipv4_route(server_inner)
            .expect("one route");
        WgPeer {
            udp,
            server,
            tunn,
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            next_port: 40000 + (std::process::id() % 1000) as u16,
            buf: vec![0; 65536],
            out: vec![0; 65536 + 64],
        }
    }

    /// The public key of a private key.
    pub fn public_of(private: [u8; 32]) -> [u8; 32] {
        PublicKey::from(&StaticSecret::from(private)).to_bytes()
    }

    /// The UDP address the peer sends from.
    pub fn local_addr(&self) -> SocketAddr {
        self.udp.local_addr().expect("bound")
    }

    /// Waits, answering what arrives, until a session exists (the endpoint initiated one)
    /// or `timeout`; whether one does. Counts the keepalives received meanwhile.
    pub fn wait_for_session(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.network();
            if self.tunn.time_since_last_handshake().is_some() {
                return true;
            }
        }
        false
    }

    /// Runs a handshake; whether the endpoint answered it within `timeout`.
    pub fn handshake(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if let TunnResult::WriteToNetwork(p) =
            self.tunn.format_handshake_initiation(&mut self.out, false)
        {
            let _ = self.udp.send_to(p, self.server);
        }
        while Instant::now() < deadline {
            self.network();
            if self.tunn.time_since_last_handshake().is_some() {
                return true;
            }
        }
        false
    }

    /// Opens a TCP connection to `to` through the tunnel, sends `request`, and reads until
    /// the server closes (or `timeout`).
    pub fn exchange(&mut self, to: SocketAddrV4, request: &[u8], timeout: Duration) -> Exchange {
        use std::io::{Read, Write};
        let mut stream = match self.connect(to, timeout) {
            Ok(s) => s,
            Err(how) => return how,
        };
        let mut response = Vec::new();
        // A server may answer and close before it read everything: what it sent counts.
        let _ = stream.write_all(request).and_then(|()| stream.flush());
        let _ = stream.read_to_end(&mut response);
        Exchange::Response(response)
    }

    /// Opens a TCP connection to `to` through the tunnel, as a blocking stream whose every
    /// read and write gives up at `timeout` from now; `Err` says how the connect failed.
    pub fn connect(
        &mut self,
        to: SocketAddrV4,
        timeout: Duration,
    ) -> Result<WgStream<'_>, Exchange> {
        let deadline = Instant::now() + timeout;
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65536]),
            tcp::SocketBuffer::new(vec![0; 65536]),
        );
        self.next_port = self.next_port.wrapping_add(1).max(40000);
        socket
            .connect(
                self.iface.context(),
                (IpAddress::Ipv4(*to.ip()), to.port()),
                self.next_port,
            )
            .expect("connect");
        let handle = self.sockets.add(socket);
        let mut stream = WgStream {
            peer: self,
            handle,
            deadline,
        };
        loop {
            stream.step();
            let socket = stream.socket();
            if socket.may_send() {
                return Ok(stream);
            }
            if socket.state() == tcp::State::Closed {
                return Err(Exchange::Reset);
            }
            if Instant::now() >= deadline {
                return Err(Exchange::TimedOut);
            }
        }
    }

    /// Receives what arrived (waiting a few milliseconds at most), runs the timers.
    fn network(&mut self) {
        if let Ok((n, from)) = self.udp.recv_from(&mut self.buf) {
            // Replies go where the endpoint is (it may have spoken first).
            self.server = from;
            let mut first = true;
            loop {
                let input = if first { &self.buf[..n] } else { &[][..] };
                match self
                    .tunn
                    .decapsulate(first.then_some(from.ip()), input, &mut self.out)
                {
                    TunnResult::WriteToNetwork(p) => {
                        let _ = self.udp.send_to(p, self.server);
                        first = false;
                    }
                    TunnResult::WriteToTunnelV4(p, _) => {
                        self.device.rx.push_back(p.to_vec());
                        break;
                    }
                    _ => break,
                }
            }
        }
        if let TunnResult::WriteToNetwork(p) = self.tunn.update_timers(&mut self.out) {
            let _ = self.udp.send_to(p, self.server);
        }
    }

    fn flush(&mut self) {
        while let Some(packet) = self.device.tx.pop_front() {
            if let TunnResult::WriteToNetwork(p) = self.tunn.encapsulate(&packet, &mut self.out) {
                let _ = self.udp.send_to(p, self.server);
            }
        }
    }
}

#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

impl Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1420;
        caps
    }

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
}

struct Rx(Vec<u8>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut p = vec![0; len];
        let r = f(&mut p);
        self.0.push_back(p);
        r
    }
}

/// A TCP connection through the tunnel as a blocking `Read + Write` (each call drives the
/// peer until it can make progress). Aborted when dropped.
pub struct WgStream<'a> {
    peer: &'a mut WgPeer,
    handle: smoltcp::iface::SocketHandle,
    deadline: Instant,
}

impl WgStream<'_> {
    fn step(&mut self) {
        let p = &mut *self.peer;
        p.network();
        p.iface
            .poll(smoltcp::time::Instant::now(), &mut p.device, &mut p.sockets);
        p.flush();
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.peer.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    fn timed_out(&self) -> std::io::Result<()> {
        if Instant::now() >= self.deadline {
            Err(std::io::ErrorKind::TimedOut.into())
        } else {
            Ok(())
        }
    }
}

impl std::io::Read for WgStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let socket = self.socket();
            if socket.can_recv() {
                return socket
                    .recv_slice(buf)
                    .map_err(|e| std::io::Error::other(e.to_string()));
            }
            if !socket.may_recv() {
                return Ok(0);
            }
            self.timed_out()?;
            self.step();
        }
    }
}

impl std::io::Write for WgStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            let socket = self.socket();
            if socket.can_send() {
                let n = socket
                    .send_slice(buf)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                self.step();
                return Ok(n);
            }
            if !socket.may_send() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.timed_out()?;
            self.step();
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        while self.socket().send_queue() > 0 {
            self.timed_out()?;
            self.step();
        }
        Ok(())
    }
}

impl Drop for WgStream<'_> {
    fn drop(&mut self) {
        self.socket().abort();
        self.step();
        self.peer.sockets.remove(self.handle);
    }
}
