#!/usr/bin/env python3
"""Where a warm invoke's time goes, from a packet capture of the loopback (no change to any
server, no tracing overhead): for every synchronous invoke in the capture, the time from the
client's request (its last packet) to the server handing the event to the runtime (the answer to its
`GET /2018-06-01/runtime/invocation/next`), from there to the runtime posting its `/response`,
and from there to the server's answer to the client. Works for nuvem and for AWS's runtime
interface emulator alike (both speak the same two HTTP APIs on loopback TCP).

    tcpdump -i lo -w /tmp/invokes.pcap -s 256 'tcp[tcpflags] & tcp-push != 0' &
    ... run warm invokes (e.g. bench/run.sh --only lambda) ...
    bench/lambda-stages.py /tmp/invokes.pcap [more.pcap ...]

A runtime in a network namespace of its own (nuvem as root) talks to its Runtime API on that
namespace's loopback: capture there too (`nsenter --net=/proc/<pid>/ns/net tcpdump -i lo ...`,
the pid of any process of the environment) and pass both files; packets are merged by time.
Measure one server at a time (the emulator's runtime port, 9001, is nuvem's inside a namespace).

Prints, per server port that received invokes, the median and p90 of each stage in µs.
Packets are stamped by the kernel as they cross `lo`; a stage therefore includes the
receiving side's wake-up, never the client's own work.
"""

import struct
import sys


def packets(path):
    """(time, src port, dst port, payload) of every TCP packet with a payload."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        scale = 1e-6
    elif magic == 0xA1B23C4D:
        scale = 1e-9
    else:
        sys.exit("not a little-endian pcap file (tcpdump -w)")
    link = struct.unpack("<I", data[20:24])[0]
    link_len = {1: 14, 113: 16, 276: 20}.get(link)
    if link_len is None:
        sys.exit(f"unknown link type {link}")
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack("<IIII", data[at : at + 16])
        frame = data[at + 16 : at + 16 + incl]
        at += 16 + incl
        ip = frame[link_len:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0x0F) * 4
        tcp = ip[ihl:]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack(">HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload:
            yield sec + frac * scale, sport, dport, payload


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    rank = max(1, min(len(values), -(-len(values) * p // 100)))
    return values[int(rank) - 1]


def main(paths):
    pkts = sorted((p for path in paths for p in packets(path)), key=lambda p: p[0])
    # Which ports serve invokes, and which serve a Runtime API.
    invoke_ports, runtime_ports = set(), set()
    for _, _, dport, p in pkts:
        if p.startswith(b"POST /2015-03-31/functions/"):
            invoke_ports.add(dport)
        if p.startswith(b"GET /2018-06-01/runtime/invocation/next"):
            runtime_ports.add(dport)
    if not invoke_ports:
        sys.exit("no Invoke requests in the capture")
    for server in sorted(invoke_ports):
        stages = {"request → event to runtime": [], "event → runtime's /response": [],
                  "/response → answer to client": [], "server total": []}
        pending = None  # [t_request, t_event, t_response]
        for t, sport, dport, p in pkts:
            if dport == server and p.startswith(b"POST /2015-03-31/functions/"):
                pending = [t, None, None]
            elif pending is None:
                continue
            elif dport == server and pending[1] is None:
                # The rest of the request (a body sent apart): the server waits for it.
                pending[0] = t
            elif sport in runtime_ports and pending[1] is None and p.startswith(b"HTTP/1.1 200"):
                pending[1] = t
            elif (dport in runtime_ports and pending[1] is not None and pending[2] is None
                  and p.startswith(b"POST /2018-06-01/runtime/invocation/") and b"/response" in p[:120]):
                pending[2] = t
            elif sport == server and p.startswith(b"HTTP/1.1 ") and pending[2] is not None:
                t0, t1, t2 = pending
                stages["request → event to runtime"].append((t1 - t0) * 1e6)
                stages["event → runtime's /response"].append((t2 - t1) * 1e6)
                stages["/response → answer to client"].append((t - t2) * 1e6)
                stages["server total"].append((t - t0) * 1e6)
                pending = None
        n = len(stages["server total"])
        print(f"server port {server}: {n} invokes")
        for name, v in stages.items():
            print(f"  {name:32} p50 {percentile(v, 50):8.1f} µs   p90 {percentile(v, 90):8.1f} µs")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
