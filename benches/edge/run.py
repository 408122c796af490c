#!/usr/bin/env python3
"""Edge benchmark: cache hits through nuvem's edge, nginx (proxy_cache) and Varnish, side by
side, in front of the same origin, on this machine.

wrk is pinned to CPU 0 and each proxy to CPU 1; each (proxy, object) pair is measured three
times and the median is printed, with req/s, p50, p99 and the ratios of nuvem to each peer.
nginx, Varnish and wrk are installed from Debian's packages when missing (needs root).

    python3 benches/edge/run.py [--duration 10] [--connections 64] [--skip-build]
"""

import argparse
import http.server
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIZES = {"1k": 1024, "100k": 100 * 1024}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_tools():
    missing = [pkg for tool, pkg in (("nginx", "nginx"), ("varnishd", "varnish"), ("wrk", "wrk"))
               if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}")]
    if missing:
        print(f"installing {' '.join(missing)} from Debian's packages", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    # Debian starts the packaged services; they would compete for the CPUs.
    for svc in ("nginx", "varnish"):
        subprocess.run(["service", svc, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits = 0

    def do_GET(self):
        Origin.hits += 1
        name = self.path.strip("/").split("?")[0]
        body = b"x" * SIZES.get(name, 16)
        self.send_response(200 if name in SIZES else 404)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("ETag", f'"{name}"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class OriginServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # proxies closing idle connections at exit


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)", v)
    n, unit = float(m.group(1)), m.group(2)
    return {"us": n / 1000, "ms": n, "s": n * 1000, "m": n * 60000}[unit]


def wrk(url, duration, connections):
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        check=True, capture_output=True, text=True).stdout
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    except AttributeError:
        raise SystemExit(f"{url}: unexpected wrk output\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses\n{out}")
    return rps, p50, p99


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--skip-build", action="store_true")
    args = ap.parse_args()
    ensure_tools()
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "-p", "nuvem"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="nuvem-edge-bench-")
    procs = []
    try:
        origin_port = free_port()
        server = OriginServer(("127.0.0.1", origin_port), Origin)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        origin = f"http://127.0.0.1:{origin_port}"

        ports = {"nuvem": free_port(), "nginx": free_port(), "varnish": free_port()}
        with open(os.path.join(work, "nuvem.toml"), "w") as f:
            f.write(f'[[distribution.behaviors]]\npath_pattern = "default"\norigin = "{origin}"\n'
                    f'compress = false\n')
        procs.append(subprocess.Popen(
            ["taskset", "-c", "1", os.path.join(ROOT, "target", "release", "nuvem"), "up",
             "--manifest", os.path.join(work, "nuvem.toml"), "--data-dir", os.path.join(work, "data"),
             "--api-addr", "127.0.0.1:0", "--edge-addr", f"127.0.0.1:{ports['nuvem']}"],
            stdout=subprocess.DEVNULL))

        os.makedirs(os.path.join(work, "nginx-cache"))
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(f"""
user root;
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush off;   # Debian's default (on) stalls 100 KiB responses by 40 ms
  keepalive_requests 1000000;
  proxy_cache_path {work}/nginx-cache levels=1:2 keys_zone=c:16m max_size=1g;
  upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{ports['nginx']};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache c;
    }}
  }}
}}
""")
        procs.append(subprocess.Popen(
            ["taskset", "-c", "1", "nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work],
            stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            ["taskset", "-c", "1", "varnishd", "-F", "-a", f"127.0.0.1:{ports['varnish']}",
             "-b", f"127.0.0.1:{origin_port}", "-n", os.path.join(work, "varnish"),
             "-s", "malloc,256m"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        results = {}
        for name, port in ports.items():
            for obj in SIZES:
                url = f"http://127.0.0.1:{port}/{obj}"
                wait_http(url)
                wait_http(url)  # now cached
                runs = [wrk(url, args.duration, args.connections) for _ in range(3)]
                results[(name, obj)] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
                rps, p50, p99 = results[(name, obj)]
                print(f"{name:8} {obj:5} {rps:10.0f} req/s  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms", flush=True)
        print()
        for obj in SIZES:
            n = results[("nuvem", obj)][0]
            print(f"{obj:5} nuvem/nginx {n / results[('nginx', obj)][0]:.2f}x   "
                  f"nuvem/varnish {n / results[('varnish', obj)][0]:.2f}x")
        print(f"origin requests: {Origin.hits}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
