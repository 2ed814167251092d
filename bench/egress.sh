#!/usr/bin/env bash
# bench/egress.sh — the egress proxy against direct loopback, in one run:
#   1. a 1 GiB download through a CONNECT tunnel vs direct (target: >= 80 % of direct),
#      with splice relaying (default) and with copy relaying (for comparison);
#   2. 1,000 small keep-alive requests through the forward proxy vs direct
#      (target: <= 1.5x direct time);
#   3. decisions per second with 200 concurrent clients (allowed tunnels, and denials);
#   4. the proxy's RSS with 1,000 idle tunnels open;
#   5. a reference, when HAProxy is installed (apt-get install haproxy): the same
#      download through HAProxy as a plain TCP relay (splice on, less work than a
#      CONNECT tunnel) and the same keep-alive requests through HAProxy in HTTP mode,
#      each next to direct and cordon in the same loop: what a mature C proxy reaches
#      on this machine.
# Each timing is the median of $RUNS runs (default 5). The proxy runs standalone
# (bench/src/bin/egress_bench.rs) with binary identity on (host scope), no audit file.
# Everything stays on 127.0.0.1. Usage: bench/egress.sh
# env: RUNS (5), SIZE (1 GiB), SMALL (1000), PARTS ("rss download small decisions").
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SIZE=${SIZE:-1073741824}
SMALL=${SMALL:-1000}
PARTS=${PARTS:-rss download small decisions reference}
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
# CPU time a process has used so far, in ns (all its threads). Other work on the
# machine moves wall-clock figures a lot; a process's CPU cost per byte or request
# barely moves, so it is reported next to them.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

start serve 7 serve
SERVE_PID=${pids[0]}
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
PROXY_COPY_PID=${pids[2]}

echo "== egress proxy benchmark ($(nproc) cores, $RUNS runs each, median; load average $(cut -d' ' -f1-3 /proc/loadavg))"

# RSS with 1,000 idle tunnels (each carried one round trip), on the fresh proxy.
bench_rss() {
  local before after
  rss() { awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status"; }
  before=$(rss)
  start idle 6 idle --proxy "127.0.0.1:$PROXY" --target "api.bench:$ECHO" --count 1000
  after=$(rss)
  echo "proxy RSS: $((before / 1024)) MiB at start, $((after / 1024)) MiB with $(awk '{print $2}' "$tmp/idle.out") idle tunnels ($(( (after - before) * 1024 / 1000 )) bytes per tunnel)"
  exec 6>&-
}

# Bulk download through a CONNECT tunnel (splice and copy relays) vs direct, interleaved.
bench_download() {
  local direct=() splice=() copy=() cpu_s=() cpu_c=() d s c t0
  dl() { "$CURL" -s -o /dev/null -w '%{speed_download}' "$@"; }
  for _ in $(seq "$RUNS"); do
    direct+=("$(dl "http://127.0.0.1:$HTTP/bytes/$SIZE")")
    t0=$(cpu_ns "$PROXY_PID")
    splice+=("$(dl -p -x "http://127.0.0.1:$PROXY" "http://api.bench:$HTTP/bytes/$SIZE")")
    cpu_s+=($(( $(cpu_ns "$PROXY_PID") - t0 )))
    t0=$(cpu_ns "$PROXY_COPY_PID")
    copy+=("$(dl -p -x "http://127.0.0.1:$PROXY_COPY" "http://api.bench:$HTTP/bytes/$SIZE")")
    cpu_c+=($(( $(cpu_ns "$PROXY_COPY_PID") - t0 )))
  done
  d=$(median "${direct[@]}"); s=$(median "${splice[@]}"); c=$(median "${copy[@]}")
  python3 -c '
import sys
d, s, c, size, cs, cc = map(float, sys.argv[1:])
print(f"download {size/2**30:.2f} GiB: direct {d/1e6:.0f} MB/s; CONNECT tunnel (splice) {s/1e6:.0f} MB/s = {100*s/d:.0f}% of direct; (copy) {c/1e6:.0f} MB/s = {100*c/d:.0f}%  [target >= 80%]")
print(f"  proxy CPU per byte relayed: splice {cs/size:.2f} ns, copy {cc/size:.2f} ns")
' "$d" "$s" "$c" "$SIZE" "$(median "${cpu_s[@]}")" "$(median "${cpu_c[@]}")"
}

# Small keep-alive requests: one curl process, $SMALL URLs on one connection.
bench_small() {
  local direct=() proxied=() cpu_p=() cpu_d=() d p t0
  small() { local t0; t0=$(now_ns); "$CURL" -s "$@" >/dev/null; echo $(( $(now_ns) - t0 )); }
  for _ in $(seq "$RUNS"); do
    t0=$(cpu_ns "$SERVE_PID")
    direct+=("$(small --resolve "api.bench:$HTTP:127.0.0.1" "http://api.bench:$HTTP/small/[1-$SMALL]")")
    cpu_d+=($(( $(cpu_ns "$SERVE_PID") - t0 )))
    t0=$(cpu_ns "$PROXY_PID")
    proxied+=("$(small -x "http://127.0.0.1:$PROXY" "http://api.bench:$HTTP/small/[1-$SMALL]")")
    cpu_p+=($(( $(cpu_ns "$PROXY_PID") - t0 )))
  done
  d=$(median "${direct[@]}"); p=$(median "${proxied[@]}")
  python3 -c '
import sys
d, p, n, cp, cd = map(float, sys.argv[1:])
print(f"{n:.0f} keep-alive requests: direct {d/1e6:.0f} ms; forward proxy {p/1e6:.0f} ms = {p/d:.2f}x direct ({(p-d)/n/1e3:.0f} us added per request)  [target <= 1.5x]")
print(f"  CPU per request: proxy {cp/n/1e3:.0f} us (the origin server: {cd/n/1e3:.0f} us)")
' "$d" "$p" "$SMALL" "$(median "${cpu_p[@]}")" "$(median "${cpu_d[@]}")"
}

# Decisions per second: 200 concurrent clients opening and closing tunnels.
bench_decisions() {
  "$BIN" load --proxy "127.0.0.1:$PROXY" --target "api.bench:$ECHO" --concurrency 200 --seconds 5 \
    | sed 's/^/allowed (CONNECT + dial): /'
  "$BIN" load --proxy "127.0.0.1:$PROXY" --target "denied.bench:$ECHO" --concurrency 200 --seconds 5 \
    | sed 's/^/denied (403): /'
}

# HAProxy as a reference relay (part "reference"); skipped when it is not installed.
bench_reference() {
  local hap
  hap=$(command -v haproxy || true)
  if [ -z "$hap" ]; then
    echo "reference: haproxy not installed (apt-get install haproxy), skipped"
    return
  fi
  local tcp_port http_port
  read -r tcp_port http_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
  cat >"$tmp/haproxy.cfg" <<EOF
global
  nbthread 2
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen tcp
  mode tcp
  option splice-auto
  bind 127.0.0.1:$tcp_port
  server origin 127.0.0.1:$HTTP
listen http
  mode http
  option http-keep-alive
  http-reuse always
  bind 127.0.0.1:$http_port
  server origin 127.0.0.1:$HTTP
EOF
  "$hap" -db -f "$tmp/haproxy.cfg" >/dev/null 2>"$tmp/haproxy.err" &
  local hap_pid=$!
  pids+=("$hap_pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null && break
    sleep 0.05
  done
  local direct=() viahap=() viacordon=() sd=() sh=() sc=()
  dl() { "$CURL" -s -o /dev/null -w '%{speed_download}' "$@"; }
  small() { local t0; t0=$(now_ns); "$CURL" -s "$@" >/dev/null; echo $(( $(now_ns) - t0 )); }
  for _ in $(seq "$RUNS"); do
    direct+=("$(dl "http://127.0.0.1:$HTTP/bytes/$SIZE")")
    viahap+=("$(dl --connect-to "api.bench:$HTTP:127.0.0.1:$tcp_port" "http://api.bench:$HTTP/bytes/$SIZE")")
    viacordon+=("$(dl -p -x "http://127.0.0.1:$PROXY" "http://api.bench:$HTTP/bytes/$SIZE")")
    sd+=("$(small --resolve "api.bench:$HTTP:127.0.0.1" "http://api.bench:$HTTP/small/[1-$SMALL]")")
    sh+=("$(small --connect-to "api.bench:$HTTP:127.0.0.1:$http_port" "http://api.bench:$HTTP/small/[1-$SMALL]")")
    sc+=("$(small -x "http://127.0.0.1:$PROXY" "http://api.bench:$HTTP/small/[1-$SMALL]")")
  done
  kill "$hap_pid" 2>/dev/null || true
  python3 -c '
import sys
d, h, c, sd, sh, sc, size, n = map(float, sys.argv[1:])
print(f"reference download {size/2**30:.2f} GiB: direct {d/1e6:.0f} MB/s; HAProxy TCP relay {h/1e6:.0f} MB/s = {100*h/d:.0f}%; cordon CONNECT tunnel {c/1e6:.0f} MB/s = {100*c/d:.0f}%")
print(f"reference {n:.0f} keep-alive requests: direct {sd/1e6:.0f} ms; HAProxy HTTP {sh/1e6:.0f} ms = {sh/sd:.2f}x; cordon forward proxy {sc/1e6:.0f} ms = {sc/sd:.2f}x")
' "$(median "${direct[@]}")" "$(median "${viahap[@]}")" "$(median "${viacordon[@]}")" \
    "$(median "${sd[@]}")" "$(median "${sh[@]}")" "$(median "${sc[@]}")" "$SIZE" "$SMALL"
}

for part in $PARTS; do
  "bench_$part"
done
