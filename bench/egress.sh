#!/usr/bin/env bash
# bench/egress.sh — the egress proxy against direct loopback, in one run:
#   1. a 1 GiB download through a CONNECT tunnel vs direct (target: >= 80 % of direct),
#      with splice relaying (default) and with copy relaying (for comparison);
#   2. 1,000 small keep-alive requests through the forward proxy vs direct
#      (target: <= 1.5x direct time);
#   3. decisions per second with 200 concurrent clients (allowed tunnels, and denials);
#   4. the proxy's RSS with 1,000 idle tunnels open.
# Each timing is the median of $RUNS runs (default 5). The proxy runs standalone
# (bench/src/bin/egress_bench.rs) with binary identity on (host scope), no audit file.
# Everything stays on 127.0.0.1. Usage: bench/egress.sh   (env: RUNS, SIZE)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SIZE=${SIZE:-1073741824}
SMALL=${SMALL:-1000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "bench/egress.sh: $tool is required" >&2; exit 1; }
done
cargo build --release -q -p cordon-bench --bin egress-bench
BIN=$CARGO_TARGET_DIR/release/egress-bench
CURL=$(readlink -f "$(command -v curl)")

tmp=$(mktemp -d)
pids=()
cleanup() {
  for fd in 6 7 8 9; do eval "exec $fd>&-" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME FD ARGS...: runs `egress-bench ARGS` with stdin held open on FD (closing
# FD stops it); its stdout goes to $tmp/NAME.out.
start() {
  local name=$1 fd=$2; shift 2
  mkfifo "$tmp/$name.in"
  "$BIN" "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  eval "exec $fd>\"$tmp/$name.in\""
  for _ in $(seq 200); do [ -s "$tmp/$name.out" ] && break; sleep 0.05; done
}
port_of() { awk -v k="$2" '$1 == k { print $2 }' "$tmp/$1.out"; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
now_ns() { date +%s%N; }

start serve 7 serve
HTTP=$(port_of serve http)
ECHO=$(port_of serve echo)
cat >"$tmp/policy.yaml" <<EOF
version: 1
network_policies:
  bench:
    endpoints:
      - { host: api.bench, ports: [$HTTP, $ECHO] }
    binaries:
      - { path: "$CURL" }
      - { path: "$(readlink -f "$BIN")" }
EOF
hosts=(--add-host api.bench:127.0.0.1 --add-host denied.bench:127.0.0.1)
start proxy 8 proxy --policy "$tmp/policy.yaml" "${hosts[@]}"
PROXY=$(port_of proxy proxy)
PROXY_PID=${pids[1]}
# A second proxy relaying by copy instead of splice, for comparison.
start proxy-copy 9 proxy --policy "$tmp/policy.yaml" "${hosts[@]}" --relay copy
PROXY_COPY=$(port_of proxy-copy proxy)

echo "== egress proxy benchmark ($(nproc) cores, $RUNS runs each, median)"

# 1. Bulk download.
dl() { "$CURL" -s -o /dev/null -w '%{speed_download}' "$@"; }
direct=() splice=() copy=()
for _ in $(seq "$RUNS"); do
  direct+=("$(dl "http://127.0.0.1:$HTTP/bytes/$SIZE")")
  splice+=("$(dl -p -x "http://127.0.0.1:$PROXY" "http://api.bench:$HTTP/bytes/$SIZE")")
  copy+=("$(dl -p -x "http://127.0.0.1:$PROXY_COPY" "http://api.bench:$HTTP/bytes/$SIZE")")
done
d=$(median "${direct[@]}"); s=$(median "${splice[@]}"); c=$(median "${copy[@]}")
python3 - "$d" "$s" "$c" "$SIZE" <<'EOF'
import sys
d, s, c, size = map(float, sys.argv[1:])
mb = lambda v: v / 1e6
print(f"download {size/2**30:.0f} GiB: direct {mb(d):.0f} MB/s; CONNECT tunnel (splice) {mb(s):.0f} MB/s = {100*s/d:.0f}% of direct; (copy) {mb(c):.0f} MB/s = {100*c/d:.0f}%  [target >= 80%]")
EOF

# 2. Small keep-alive requests: one curl process, $SMALL URLs on one connection.
small() { local t0; t0=$(now_ns); "$CURL" -s "$@" >/dev/null; echo $(( $(now_ns) - t0 )); }
direct=() proxied=()
for _ in $(seq "$RUNS"); do
  direct+=("$(small --resolve "api.bench:$HTTP:127.0.0.1" "http://api.bench:$HTTP/small/[1-$SMALL]")")
  proxied+=("$(small -x "http://127.0.0.1:$PROXY" "http://api.bench:$HTTP/small/[1-$SMALL]")")
done
d=$(median "${direct[@]}"); p=$(median "${proxied[@]}")
python3 - "$d" "$p" "$SMALL" <<'EOF'
import sys
d, p, n = map(float, sys.argv[1:])
print(f"{n:.0f} keep-alive requests: direct {d/1e6:.0f} ms; forward proxy {p/1e6:.0f} ms = {p/d:.2f}x direct ({(p-d)/n/1e3:.0f} us added per request)  [target <= 1.5x]")
EOF

# 3. Decisions per second, 200 concurrent clients opening and closing tunnels.
"$BIN" load --proxy "127.0.0.1:$PROXY" --target "api.bench:$ECHO" --concurrency 200 --seconds 5 \
  | sed 's/^/allowed (CONNECT + dial): /'
"$BIN" load --proxy "127.0.0.1:$PROXY" --target "denied.bench:$ECHO" --concurrency 200 --seconds 5 \
  | sed 's/^/denied (403): /'

# 4. RSS with 1,000 idle tunnels (each carried one round trip).
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status"; }
before=$(rss)
start idle 6 idle --proxy "127.0.0.1:$PROXY" --target "api.bench:$ECHO" --count 1000
after=$(rss)
echo "proxy RSS: $((before / 1024)) MiB before, $((after / 1024)) MiB with $(awk '{print $2}' "$tmp/idle.out") idle tunnels ($(( (after - before) * 1024 / 1000 )) bytes per tunnel)"
exec 6>&-
