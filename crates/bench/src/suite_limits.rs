//! The limits group of `nuvem-bench run`: the edge under a slowloris attack, nuvem with its
//! default `[server.limits]` against nginx hardened the documented way (`limit_conn`,
//! `client_header_timeout`), both caching the bench's origin. A normal visitor (127.0.0.1,
//! open loop) is measured without and then during the attack; the attacker (127.0.0.2) keeps
//! `ATTACKERS` connections trying, each sending a request head one header line per second and
//! reconnecting a second after the server closes it. Reported: the visitor's p99 and errors,
//! and how many attacker connections the server held open. Must not: print the report.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::report::{Metric, Ratio, Report};
use crate::suite::Ctx;
use crate::{edge_peers, procs, web};

/// Attacker connections kept trying at once.
const ATTACKERS: usize = 1000;
/// The visitor's rate (requests/s, open loop).
const VISITOR_RATE: f64 = 200.0;

pub async fn limits(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    // The attacker needs a descriptor per connection.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let origin = web::Origin::start(1024).await?;
    let manifest = format!("{}\n[waf]\nenabled = false\n", origin.distribution());
    let launch = procs::Launch {
        manifest: &manifest,
        pin: ctx.pin(),
        ..Default::default()
    };
    let nuvem = procs::Nuvem::launch(&ctx.nuvem_bin, &launch)?;
    let mut targets = vec![(
        "nuvem".to_string(),
        nuvem.edge_url.clone().context("nuvem printed no edge")?,
        nuvem.pid(),
    )];
    let mut peers = Vec::new();
    if let Some(bin) = &ctx.nginx_bin {
        let p = edge_peers::nginx_limits(bin, origin.addr, ctx.pin())?;
        report.notes.push(format!(
            "{}: `{}` (limit_conn 256, client_header_timeout 10s)",
            p.name, p.command
        ));
        targets.push((p.name.to_string(), p.url.clone(), p.pid()));
        peers.push(p);
    }
    // The attack lasts past the 10 s header timeout of both servers before the visitor is
    // measured, so that what is measured is the steady state.
    let ramp = if ctx.smoke {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(12)
    };
    let client = web::client(256);
    let mut held_by = Vec::new();
    for (name, url, pid) in &targets {
        let op = web::get_op(&client, url, None, |_| "/obj/limits".to_string());
        ctx.measure(
            report,
            "limits.visitor GET, no attack",
            name,
            &op,
            ctx.open(VISITOR_RATE),
            Some(*pid),
            Metric::TailLatency,
        )
        .await;
        let attack = Attack::start(url.trim_start_matches("http://").parse()?);
        tokio::time::sleep(ramp).await;
        let held_before = attack.held.load(Ordering::Relaxed);
        ctx.measure(
            report,
            "limits.visitor GET, slowloris 1000 conns from 1 IP",
            name,
            &op,
            ctx.open(VISITOR_RATE),
            Some(*pid),
            Metric::TailLatency,
        )
        .await;
        let held_after = attack.held.load(Ordering::Relaxed);
        let (opened, closed) = attack.stop();
        report.notes.push(format!(
            "limits.slowloris on {name}: {opened} attacker connections opened, {closed} closed by the server; held open: {held_before} after {} s, {held_after} at the end of the measured phase",
            ramp.as_secs()
        ));
        held_by.push((name.clone(), held_after));
    }
    if let [(subject, mine), (peer, theirs), ..] = held_by.as_slice() {
        report.extra_ratios.push(Ratio {
            scenario: "limits.slowloris connections held".into(),
            mode: format!("{ATTACKERS} conns from 1 IP, after {} s", ramp.as_secs()),
            subject: subject.clone(),
            subject_value: format!("{mine} held"),
            peer: peer.clone(),
            peer_value: format!("{theirs} held"),
            ratio: None,
            headline: Some("fewer is better".into()),
        });
    }
    drop(peers);
    Ok(())
}

/// The slowloris attacker: [`ATTACKERS`] tasks from 127.0.0.2.
struct Attack {
    held: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Attack {
    fn start(target: SocketAddr) -> Self {
        let a = Attack {
            held: Arc::default(),
            opened: Arc::default(),
            closed: Arc::default(),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        for _ in 0..ATTACKERS {
            let (held, opened, closed, stop) = (
                a.held.clone(),
                a.opened.clone(),
                a.closed.clone(),
                a.stop.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(s) = connect(target).await {
                        opened.fetch_add(1, Ordering::Relaxed);
                        held.fetch_add(1, Ordering::Relaxed);
                        if dribble(s, &stop).await {
                            closed.fetch_add(1, Ordering::Relaxed);
                        }
                        held.fetch_sub(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        Attack { tasks, ..a }
    }

    /// Stops the attack; (connections opened, closed by the server).
    fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.tasks {
            t.abort();
        }
        (
            self.opened.load(Ordering::Relaxed),
            self.closed.load(Ordering::Relaxed),
        )
    }
}

async fn connect(target: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0))?;
    socket.connect(target).await
}

/// Sends a request head that never ends, one line a second; true when the server closed it.
async fn dribble(s: tokio::net::TcpStream, stop: &AtomicBool) -> bool {
    let (mut rd, mut wr) = s.into_split();
    let write = async {
        if wr
            .write_all(b"GET /obj/slow HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .is_err()
        {
            return;
        }
        for i in 0u64.. {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stop.load(Ordering::Relaxed)
                || wr
                    .write_all(format!("X-a-{i}: b\r\n").as_bytes())
                    .await
                    .is_err()
            {
                return;
            }
        }
    };
    let read = async {
        let mut buf = [0u8; 512];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = read => true,
        _ = write => !stop.load(Ordering::Relaxed),
    }
}
