#!/usr/bin/env python3
"""nuvem's own CPU time per request, for comparing two builds on a shared machine.

Starts `nuvem up` pinned to CPU 1, prepares the workload, warms it, then sends N requests
over 16 keep-alive connections and reads nuvem's user+system time from /proc before and
after (the function processes of `invoke` are not counted). CPU per request does not move
with other load on the machine the way requests/s do, so builds can be compared on a busy
machine; run them alternately, twice each.

    python3 bench/cpu-per-request.py NUVEM_BIN WHAT N [--echo ECHO_BIN] [--scrape SECONDS]
                                     [--metrics on|off]

WHAT is `invoke` (a warm Lambda Invoke of the Rust echo function, examples/functions/echo,
SigV4-signed), `getitem` (a DynamoDB GetItem, SigV4-signed), `edge-hit` (a cached 1 KiB GET
through the edge and its default WebACL, from a local origin) or `edge-hit-no-waf` (the same
with `[waf] enabled = false`). `--scrape S` has a scraper GET `/_nuvem/metrics` (with the
metrics bearer token) every S seconds while the requests are measured, as Prometheus would;
its CPU in nuvem (rendering the exposition) is counted too. `--metrics off` runs nuvem with
`NUVEM_METRICS=off`: nothing recorded per request (the same binary without its metrics).
"""
import argparse
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Origin(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"x" * 1024
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Cache-Control", "max-age=600")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


TOKEN = "cpu-per-request-metrics-token"


def scraper(port, every, stop, scrapes):
    h = http.client.HTTPConnection("127.0.0.1", port)
    while not stop.wait(every):
        h.request("GET", "/_nuvem/metrics", headers={"Authorization": "Bearer " + TOKEN})
        r = h.getresponse()
        r.read()
        assert r.status == 200, r.status
        scrapes.append(1)


def signed(url, service, body, headers):
    r = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(r)
    return dict(r.headers.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nuvem")
    ap.add_argument("what", choices=["invoke", "getitem", "edge-hit", "edge-hit-no-waf"])
    ap.add_argument("n", type=int)
    ap.add_argument("--echo", help="the echo function binary (for invoke)")
    ap.add_argument("--scrape", type=float, help="scrape /_nuvem/metrics every this many seconds")
    ap.add_argument("--metrics", choices=["on", "off"], default="on",
                    help="off: NUVEM_METRICS=off, nothing recorded per request")
    a = ap.parse_args()
    if a.metrics == "off" and a.scrape:
        ap.error("--scrape needs --metrics on")
    d = tempfile.mkdtemp(prefix="cpu-")
    api, edge = free_port(), free_port()
    manifest = ""
    if a.what.startswith("edge-hit"):
        origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
        threading.Thread(target=origin.serve_forever, daemon=True).start()
        manifest = (
            "[[distribution.behaviors]]\npath_pattern = \"default\"\n"
            f"origin = \"http://127.0.0.1:{origin.server_address[1]}\"\n"
        )
        if a.what == "edge-hit-no-waf":
            manifest += "\n[waf]\nenabled = false\n"
    open(d + "/m.toml", "w").write(manifest)
    p = subprocess.Popen(
        ["taskset", "-c", "1", a.nuvem, "up", "--manifest", d + "/m.toml", "--data-dir", d + "/data",
         "--api-addr", f"127.0.0.1:{api}", "--edge-addr", f"127.0.0.1:{edge}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, NUVEM_METRICS_TOKEN=TOKEN, NUVEM_METRICS=a.metrics))
    ep = f"http://127.0.0.1:{api}"
    kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    for _ in range(100):
        try:
            boto3.client("dynamodb", **kw).list_tables()
            break
        except Exception:
            time.sleep(0.1)
    if a.what == "invoke":
        c = boto3.client("lambda", **kw)
        fn = d + "/fn"
        os.makedirs(fn)
        shutil.copy(a.echo, fn + "/bootstrap")
        c.create_function(FunctionName="e", Runtime="provided.al2023", Handler="x",
                          Role="arn:aws:iam::000000000000:role/r",
                          Code={"S3Bucket": "hot-reload", "S3Key": fn})
        port, path, body = api, "/2015-03-31/functions/e/invocations", b"{}"
        hdrs = signed(ep + path, "lambda", body, {"Content-Type": "application/json"})
    elif a.what == "getitem":
        c = boto3.client("dynamodb", **kw)
        c.create_table(TableName="items", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
        c.put_item(TableName="items", Item={"k": {"S": "a"}, "v": {"S": "x" * 100}})
        port, path = api, "/"
        body = json.dumps({"TableName": "items", "Key": {"k": {"S": "a"}}}).encode()
        hdrs = signed(ep + path, "dynamodb", body, {
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"})
    else:
        port, path, body = edge, "/page.txt", None
        hdrs = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) cpu-per-request"}
    method = "GET" if body is None else "POST"

    def worker(n, errors):
        h = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(n):
            h.request(method, path, body=body, headers=hdrs)
            r = h.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)

    def run(total):
        errors = []
        ts = [threading.Thread(target=worker, args=(total // 16, errors)) for _ in range(16)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        return errors

    run(320)  # warm: environments, connections, the cache

    def cpu():
        f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    stop, scrapes = threading.Event(), []
    if a.scrape:
        threading.Thread(target=scraper, args=(api, a.scrape, stop, scrapes), daemon=True).start()
    c0, t0 = cpu(), time.time()
    errors = run(a.n)
    t1, c1 = time.time(), cpu()
    stop.set()
    print(f"{a.nuvem} {a.what} metrics {a.metrics}: {a.n} requests c=16, errors {len(errors)}, wall {t1 - t0:.2f}s, "
          f"scrapes {len(scrapes)}, "
          f"nuvem CPU {c1 - c0:.2f}s = {(c1 - c0) / a.n * 1e6:.0f} us/request")
    p.terminate()
    p.wait()
    shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if errors else 0)


main()
