#!/usr/bin/env bash
# The benchmark driver: builds nuvem and the harness, installs the peers that are missing
# (moto_server from PyPI, nginx, Varnish, ModSecurity + OWASP CRS from Debian), runs every scenario against nuvem
# and its peer alternately, writes bench/results/<date>.md (+ .json) and prints the ratio
# rows. About 10 minutes of measuring on 2 cores (the edge group alone takes 5: it runs every
# phase in 3 rounds, see `--rounds`), plus the build.
#
#   bench/run.sh                     # full run: release build, bench/results/<date>.md
#   bench/run.sh --smoke             # a few requests per scenario (debug build): does it all work?
#   bench/run.sh --only edge,s3      # some groups: startup dynamodb s3 lambda gateway edge waf limits iam indexes streams sse capacity
#   bench/run.sh --skip-build ...    # use what target/ already holds
#   bench/run.sh --only dynamodb,s3 --postgres   # also nuvem on a throwaway PostgreSQL
#
# Other arguments go to `nuvem-bench run` (see `nuvem-bench run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0 build=1 args=() only="" prev=""
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1; args+=("$a") ;;
    --skip-build) build=0 ;;
    --only=*) only=${a#--only=}; args+=("$a") ;;
    *) [ "$prev" = --only ] && only=$a; args+=("$a") ;;
  esac
  prev=$a
done

started=$(date +%s)
target_dir=${CARGO_TARGET_DIR:-target}
if [ "$smoke" = 1 ]; then profile=debug; cargo_profile=(); else profile=release; cargo_profile=(--release); fi
if [ "$build" = 1 ]; then
  echo "== building ($profile)"
  cargo build "${cargo_profile[@]}" -p nuvem -p nuvem-fn-echo -p nuvem-bench
fi

# Peers: installed when missing and this user may install; otherwise the bench measures
# nuvem alone for the scenarios whose peer is absent (the report says which).
sudo=""; [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo="sudo -n"; }
if ! command -v moto_server >/dev/null; then
  echo "== installing moto[server] from PyPI"
  python3 -m pip install --quiet 'moto[server]' || echo "warning: could not install moto; DynamoDB/S3 run without a peer"
fi
missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
[ -x /usr/sbin/varnishd ] || command -v varnishd >/dev/null || missing+=(varnish)
# nginx + ModSecurity v3 + OWASP CRS: the WAF's peer.
[ -f /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || missing+=(libnginx-mod-http-modsecurity)
[ -d /usr/share/modsecurity-crs/rules ] || missing+=(modsecurity-crs)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} from Debian"
  if { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; } && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" \
      || echo "warning: could not install ${missing[*]}; the edge runs without those peers"
  else
    echo "warning: cannot install ${missing[*]} (not root, no sudo); the edge runs without those peers"
  fi
fi
# Debian starts the packaged services on install; they would compete for the CPUs.
for svc in nginx varnish; do $sudo service "$svc" stop >/dev/null 2>&1 || true; done

# Pinning: on 2+ CPUs the servers get the upper half, the load generator the lower half, so
# the client's work does not steal the server's core mid-measurement (numbers steady a lot
# on 2 cores). Every server gets the same CPUs, so the comparison stays fair.
cpus=$(nproc)
pin_client=() pin_args=()
if [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
  half=$((cpus / 2))
  pin_client=(taskset -c "0-$((half - 1))")
  pin_args=(--server-cpus "$half-$((cpus - 1))")
fi

# AWS's Lambda runtime interface emulator, the lambda group's warm-invoke peer: $NUVEM_RIE,
# else `aws-lambda-rie` on PATH, else the build beside the repository (../shared/tools).
rie=${NUVEM_RIE:-}
if [ -z "$rie" ] && ! command -v aws-lambda-rie >/dev/null \
  && [ -x ../shared/tools/aws-lambda-rie/aws-lambda-rie ]; then
  rie=../shared/tools/aws-lambda-rie/aws-lambda-rie
fi
[ -n "$rie" ] && args+=(--rie-bin "$rie")

if [ "$smoke" = 1 ]; then
  out=${TMPDIR:-/tmp}/nuvem-bench-smoke.md
else
  # A partial run (--only) gets its own file, so it never overwrites the day's full report.
  out=bench/results/$(date +%F)${only:+-${only//,/-}}.md
fi
bin="$target_dir/$profile"
echo "== measuring (report: $out)"
"${pin_client[@]}" "$bin/nuvem-bench" run --nuvem-bin "$bin/nuvem" --echo-bin "$bin/nuvem-fn-echo" \
  "${pin_args[@]}" --out "$out" "${args[@]}"
echo "== done in $(( $(date +%s) - started )) s; report: $out"
