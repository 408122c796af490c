#!/usr/bin/env bash
# The public HTTP caching conformance suite (npm `http-cache-tests`, https://cache-tests.fyi)
# against nuvem's edge: its origin server on 127.0.0.1:8000, one edge location in front of it,
# then the suite's client through the edge. Prints required/optional/check counts and the
# failing test ids.
#
#   bench/cache-tests.sh [path/to/nuvem]     (default: target/release/nuvem, built if missing)
#
# Exits 1 when a required test fails that is not one of the documented exceptions (README,
# "The edge"), so the e2e test `edge::http_cache_tests_required_pass` can run it in CI.
#
# The behavior forwards every viewer header, cookie and query string (AWS's AllViewer origin
# request policy): the suite's origin checks the request headers it was sent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-}"
if [ -z "$bin" ]; then
  target="${CARGO_TARGET_DIR:-$root/target}"
  (cd "$root" && cargo build --release --locked -p nuvem >&2)
  bin="$target/release/nuvem"
fi
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
npm install --silent --no-audit --no-fund http-cache-tests@0.4.5 >/dev/null 2>&1 \
  || { echo "npm could not install http-cache-tests" >&2; exit 2; }
suite="$work/node_modules/http-cache-tests"
(cd "$suite" && npm_package_config_protocol=http npm_package_config_port=8000 \
  npm_package_config_pidfile="$work/origin.pid" exec node server/server.mjs >"$work/origin.log" 2>&1) &
mkdir site && cat > site/nuvem.toml <<'TOML'
[server]
api_addr = "127.0.0.1:0"
edge_addr = "127.0.0.1:18080"
[waf]
enabled = false
[distribution]
regional = { disk_mb = 0 }
[[distribution.behaviors]]
path_pattern = "default"
origin = "http://localhost:8000"
allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
min_ttl = 0
default_ttl = 0
max_ttl = 31536000
compress = false
cache_key = { query_strings = "all" }
origin_request = { headers = "all", cookies = "all", query_strings = "all" }
TOML
(cd site && exec "$bin" up >"$work/nuvem.log" 2>&1) &
for _ in $(seq 100); do
  { : </dev/tcp/127.0.0.1/18080 && : </dev/tcp/127.0.0.1/8000; } 2>/dev/null && break
  sleep 0.2
done
(cd "$suite" && npm run --silent cli --base=http://127.0.0.1:18080) >"$work/results.json"
cat > "$work/summary.mjs" <<'JS'
import fs from 'fs'
const suite = process.argv[2]
const { default: tests } = await import(`${suite}/tests/index.mjs`)
const { default: surrogate } = await import(`${suite}/tests/surrogate-control.mjs`)
tests.push(surrogate)
const results = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))
const count = { required: [0, 0], optimal: [0, 0], check: [0, 0] }
const failed = { required: [], optimal: [] }
for (const s of tests) {
  for (const t of s.tests) {
    const kind = t.kind || 'required'
    const r = results[t.id]
    if (r === undefined) continue
    const setup = Array.isArray(r) && r[0] === 'Setup'
    count[kind][1]++
    if (r === true) count[kind][0]++
    else if (kind !== 'check') failed[kind].push(`${t.id}${setup ? ' (setup)' : ''}`)
  }
}
console.log(`required ${count.required[0]}/${count.required[1]}, optional ${count.optimal[0]}/${count.optimal[1]}, checks yes ${count.check[0]}/${count.check[1]}, all non-check ${count.required[0] + count.optimal[0]}/${count.required[1] + count.optimal[1]}`)
console.log(`failing required: ${failed.required.join(' ')}`)
console.log(`failing optional: ${failed.optimal.join(' ')}`)
// CloudFront behaviours kept on purpose, and tests no conforming proxy can pass (README).
const known = new Set(['age-parse-prefix', 'stale-close-must-revalidate',
  'stale-close-proxy-revalidate', 'stale-close-no-cache', 'stale-close-s-maxage=2',
  'headers-store-Set-Cookie', '304-etag-update-response-Set-Cookie', 'invalidate-M-SEARCH',
  'invalidate-M-SEARCH-cl'])
const unexpected = failed.required.map(t => t.split(' ')[0]).filter(t => !known.has(t))
if (count.required[1] === 0 || unexpected.length > 0) {
  console.log(`REGRESSION: required tests failing: ${unexpected.join(' ')}`)
  process.exit(1)
}
JS
node "$work/summary.mjs" "$suite" "$work/results.json"
