#!/usr/bin/env python3
"""What a write through the edge costs once its caches are full: N distinct 1 KiB objects are
fetched through the edge (each one a miss, stored), then M POSTs to an API path the caches hold
nothing of are timed one after another on one kept connection. Every successful POST invalidates
its path in every tier (RFC 9111 §4.4), which once meant scanning every cached entry.

    python3 bench/edge-writes.py BIN [BIN ...] [--objects 20000] [--posts 1000]

Each build runs in turn against the same origin (a plain-socket HTTP/1.1 server in this
process), with a fresh data dir. Prints the mean time per POST, client-measured.
"""
import argparse
import os
import socket
import subprocess
import tempfile
import threading
import time

EDGE, ORIGIN = 18990, 18991


def origin():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", ORIGIN))
    s.listen(128)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def read_message(c, buf):
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None, None, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        rest += c.recv(65536)
    return head, rest[:length], rest[length:]


def serve(c):
    buf = b""
    with c:
        while True:
            head, _, buf = read_message(c, buf)
            if head is None:
                return
            if head.startswith(b"GET"):
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n"
                          b"Cache-Control: max-age=3600\r\n\r\n" + b"x" * 1024)
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def request(s, raw):
    s.sendall(raw)
    head, _, rest = read_message(s, b"")
    if head is None or not head.startswith(b"HTTP/1.1 200") or rest:
        raise SystemExit(f"unexpected answer: {head!r}")


def measure(binary, objects, posts):
    with tempfile.TemporaryDirectory() as work:
        manifest = os.path.join(work, "nuvem.toml")
        with open(manifest, "w") as f:
            f.write(f"""[server]
api_addr = "127.0.0.1:0"
edge_addr = "127.0.0.1:{EDGE}"
[waf]
enabled = false
[distribution]
[[distribution.behaviors]]
path_pattern = "default"
origin = "http://127.0.0.1:{ORIGIN}"
allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
""")
        proc = subprocess.Popen(
            [binary, "up", "--manifest", manifest, "--data-dir", os.path.join(work, "data")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    s = socket.create_connection(("127.0.0.1", EDGE))
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise SystemExit(f"{binary}: the edge did not start")
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(objects):
                request(s, b"GET /obj/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            start = time.perf_counter()
            for _ in range(posts):
                request(s, b"POST /api/items HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 2\r\n\r\n{}")
            return (time.perf_counter() - start) / posts
        finally:
            proc.terminate()
            proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binaries", nargs="+")
    p.add_argument("--objects", type=int, default=20000)
    p.add_argument("--posts", type=int, default=1000)
    a = p.parse_args()
    threading.Thread(target=origin, daemon=True).start()
    for b in a.binaries:
        per = measure(b, a.objects, a.posts)
        print(f"{b}: {a.posts} POSTs after {a.objects} cached 1 KiB objects: "
              f"{per * 1e6:.0f} µs each")


if __name__ == "__main__":
    main()
