#!/usr/bin/env python3
"""Convert the OWASP CRS regression tests (YAML, go-ftw format) into crs.jsonl.

Run once when the development set changes:

    python3 crates/waf/tests/data/crs/convert.py /work/shared/waf-dev/crs-regression-tests

Each output line is one request: {"family", "rule", "test", "attack", "method", "uri",
"headers": [[name, value], ...], "body"}. A test is an attack when CRS expects a rule id in its
log (`expect_ids`), benign when it only lists `no_expect_ids`; tests with neither are skipped.
The CRS tests are Apache-2.0 (LICENSE beside this file); converting them keeps a YAML parser
out of the build.
"""
import base64
import json
import os
import sys

import yaml  # PyYAML, only needed to regenerate the file


def raw_to_parts(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, uri, *_ = lines[0].split(" ") + ["", ""]
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append([k.strip(), v.strip()])
    return method, uri, headers, body.decode("latin-1")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/waf-dev/crs-regression-tests"
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crs.jsonl")
    rows = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for folder in sorted(os.listdir(root)):
            if not folder.startswith("REQUEST-"):
                continue
            family = folder.split("-")[1]
            for name in sorted(os.listdir(os.path.join(root, folder))):
                if not name.endswith(".yaml"):
                    continue
                with open(os.path.join(root, folder, name), encoding="utf-8") as f:
                    doc = yaml.safe_load(f)
                if not doc or not doc.get("tests"):
                    continue
                for test in doc["tests"]:
                    for stage in test["stages"]:
                        stage = stage.get("stage", stage)
                        inp, log = stage["input"], (stage["output"].get("log") or {})
                        if log.get("expect_ids"):
                            attack = True
                        elif log.get("no_expect_ids"):
                            attack = False
                        else:
                            continue
                        if "encoded_request" in inp:
                            raw = base64.b64decode(inp["encoded_request"])
                            method, uri, headers, body = raw_to_parts(raw)
                        else:
                            method = inp.get("method", "GET")
                            uri = inp.get("uri", "/")
                            headers = [[str(k), str(v)] for k, v in (inp.get("headers") or {}).items()]
                            body = inp.get("data") or ""
                            if isinstance(body, list):
                                body = "\r\n".join(body)
                        out.write(json.dumps({
                            "family": family, "rule": doc.get("rule_id", 0), "test": test.get("test_id", 0),
                            "attack": attack, "method": method, "uri": str(uri),
                            "headers": headers, "body": str(body),
                        }, ensure_ascii=False) + "\n")
                        rows += 1
    print(f"wrote {rows} requests to {out_path}")


if __name__ == "__main__":
    main()
