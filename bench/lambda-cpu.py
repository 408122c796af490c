#!/usr/bin/env python3
"""nuvem's own CPU time per warm invoke (the function's processes not counted).

Starts `nuvem up` pinned to CPU 1, creates the Rust echo function (examples/functions/echo,
in place), warms 16 environments, then sends N SigV4-signed Invoke requests over 16
keep-alive connections and reads nuvem's user+system time from /proc before and after.
CPU per invoke does not move with other load on the machine the way invokes/s do, so two
builds can be compared on a shared machine:

    python3 bench/lambda-cpu.py NUVEM_BIN ECHO_BIN N PORT
"""
import boto3, sys, os, time, shutil, subprocess, tempfile, threading, http.client
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
binp, echo = sys.argv[1], sys.argv[2]; N = int(sys.argv[3]); port = int(sys.argv[4])
d = tempfile.mkdtemp(prefix="cpu-")
open(d+"/m.toml","w").write("")
p = subprocess.Popen(["taskset","-c","1",binp,"up","--manifest",d+"/m.toml","--data-dir",d+"/data","--api-addr",f"127.0.0.1:{port}","--edge-addr","127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ep=f"http://127.0.0.1:{port}"
c = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
for _ in range(100):
    try: c.list_functions(); break
    except Exception: time.sleep(0.1)
fn = d+"/fn"; os.makedirs(fn); shutil.copy(echo, fn+"/bootstrap")
c.create_function(FunctionName="e", Runtime="provided.al2023", Handler="x", Role="arn:aws:iam::000000000000:role/r", Code={"S3Bucket":"hot-reload","S3Key":fn})
url=f"{ep}/2015-03-31/functions/e/invocations"
r = AWSRequest(method="POST", url=url, data=b"{}", headers={"Content-Type":"application/json"})
SigV4Auth(Credentials("test","test"), "lambda", "us-east-1").add_auth(r)
hdrs = dict(r.headers.items())
def worker(n, out):
    h = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        h.request("POST", "/2015-03-31/functions/e/invocations", body=b"{}", headers=hdrs)
        resp = h.getresponse(); resp.read()
        if resp.status != 200: out.append(resp.status)
def run(total):
    out=[]; ts=[threading.Thread(target=worker, args=(total//16, out)) for _ in range(16)]
    [t.start() for t in ts]; [t.join() for t in ts]; return out
run(320)  # warm 16 environments
def cpu():
    f=open(f"/proc/{p.pid}/stat").read().rsplit(")",1)[1].split()
    return (int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK")
c0=cpu(); t0=time.time(); errs=run(N); t1=time.time(); c1=cpu()
print(f"{os.path.basename(binp)}: {N} invokes c=16, errors {len(errs)}, wall {t1-t0:.2f}s, nuvem CPU {c1-c0:.2f}s = {(c1-c0)/N*1e6:.0f} us/invoke")
p.terminate(); p.wait(); shutil.rmtree(d, ignore_errors=True)
