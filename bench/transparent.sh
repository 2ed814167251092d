#!/usr/bin/env bash
# bench/transparent.sh — transparent capture against the explicit proxy and direct
# loopback, in one run:
#   1. bulk download throughput of $SIZE bytes: direct (host curl), explicit proxy
#      (CONNECT tunnel, curl -p inside `cordon run`), transparent capture (curl
#      --noproxy '*' inside `cordon run`: redirected by the sandbox's nft rules,
#      original destination from SO_ORIGINAL_DST, name from the policy DNS);
#   2. connect latency: $CONNS fresh connections, one small request each, from one
#      python process (so process start-up cancels out): direct, explicit proxy
#      (CONNECT + request), transparent (plain connect + request); the median per
#      connection and what each path adds over direct;
#   3. policy DNS: the median getaddrinfo() time of an allowed name inside.
# Each throughput figure is the median of $RUNS downloads. The origin is egress-bench's
# server on 127.0.0.1; `api.bench` is pinned to it with --add-host. cordon runs as the
# invoking user (root here: the agent is an unprivileged mapped id).
# Usage: bench/transparent.sh   env: RUNS (5), SIZE (1 GiB), CONNS (300)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SIZE=${SIZE:-1073741824}
CONNS=${CONNS:-300}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
for tool in curl python3 nft; do
  command -v "$tool" >/dev/null || { echo "bench/transparent.sh: $tool is required" >&2; exit 1; }
done
cargo build --release -q -p cordon -p cordon-bench --bin cordon --bin egress-bench
CORDON=$CARGO_TARGET_DIR/release/cordon
BENCH=$CARGO_TARGET_DIR/release/egress-bench

tmp=$(mktemp -d /var/tmp/cordon-bench-transparent.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  exec 7>&- 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mkfifo "$tmp/serve.in"
"$BENCH" serve <"$tmp/serve.in" >"$tmp/serve.out" 2>"$tmp/serve.err" &
pids+=($!)
exec 7>"$tmp/serve.in"
for _ in $(seq 200); do [ -s "$tmp/serve.out" ] && break; sleep 0.05; done
HTTP=$(awk '$1 == "http" { print $2 }' "$tmp/serve.out")

cat >"$tmp/policy.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /bin, /lib, /lib64, /etc, $tmp]
  read_write: [/tmp]
network_policies:
  bench:
    endpoints:
      - { host: api.bench, port: $HTTP }
    binaries:
      - { path: "/**" }
EOF

# Connect latency client. argv: mode host port count [proxy_port]
cat >"$tmp/conns.py" <<'EOF'
import socket, statistics, sys, time
mode, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
proxy = int(sys.argv[5]) if len(sys.argv) > 5 else 0
request = f'GET /small HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n'.encode()
def read_all(s):
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
def once():
    if mode == 'proxy':
        s = socket.create_connection(('127.0.0.1', proxy))
        s.sendall(f'CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n'.encode())
        head = b''
        while b'\r\n\r\n' not in head:
            head += s.recv(4096)
        assert head.startswith(b'HTTP/1.1 200'), head
    else:
        s = socket.create_connection((host, port))
    s.sendall(request)
    reply = read_all(s)
    assert reply.startswith(b'HTTP/1.1 200'), reply[:80]
    s.close()
times = []
for _ in range(count):
    t0 = time.perf_counter_ns()
    once()
    times.append(time.perf_counter_ns() - t0)
if mode == 'transparent':
    dns = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
        dns.append(time.perf_counter_ns() - t0)
    print(f'dns_us {statistics.median(dns) / 1e3:.0f}')
print(f'{mode}_us {statistics.median(times) / 1e3:.0f}')
EOF

# Runs a script inside one sandbox with the bench policy; prints its stdout.
inside() {
  "$CORDON" run --policy "$tmp/policy.yaml" --add-host api.bench:127.0.0.1 -- /bin/sh -c "$1"
}
speed() { curl -s -o /dev/null -w '%{speed_download}' "$@"; }

echo "== transparent capture benchmark ($(nproc) cores, median of $RUNS downloads, $CONNS connections; load average $(cut -d' ' -f1-3 /proc/loadavg))"

direct=() proxied=() captured=()
for _ in $(seq "$RUNS"); do
  direct+=("$(speed "http://127.0.0.1:$HTTP/bytes/$SIZE")")
  out=$(inside "printf 'proxy '; curl -s -o /dev/null -w '%{speed_download}' -p http://api.bench:$HTTP/bytes/$SIZE; echo; \
                printf 'transparent '; curl -s --noproxy '*' -o /dev/null -w '%{speed_download}' http://api.bench:$HTTP/bytes/$SIZE; echo")
  proxied+=("$(awk '$1 == "proxy" { print $2 }' <<<"$out")")
  captured+=("$(awk '$1 == "transparent" { print $2 }' <<<"$out")")
done
python3 - "$SIZE" "${direct[*]}" "${proxied[*]}" "${captured[*]}" <<'EOF'
import statistics, sys
size = float(sys.argv[1])
d, p, t = (statistics.median(float(x) for x in arg.split()) for arg in sys.argv[2:5])
print(f"download {size/2**30:.2f} GiB: direct {d/1e6:.0f} MB/s; explicit proxy (CONNECT, splice) {p/1e6:.0f} MB/s = {100*p/d:.0f}% of direct; "
      f"transparent capture {t/1e6:.0f} MB/s = {100*t/d:.0f}% of direct")
EOF

d=$(python3 "$tmp/conns.py" direct 127.0.0.1 "$HTTP" "$CONNS" | awk '{ print $2 }')
out=$(inside "python3 $tmp/conns.py proxy api.bench $HTTP $CONNS 3128; python3 $tmp/conns.py transparent api.bench $HTTP $CONNS")
p=$(awk '$1 == "proxy_us" { print $2 }' <<<"$out")
t=$(awk '$1 == "transparent_us" { print $2 }' <<<"$out")
dns=$(awk '$1 == "dns_us" { print $2 }' <<<"$out")
echo "connect + one small request, median per connection: direct ${d} us; explicit proxy (CONNECT) ${p} us (+$((p - d)) us); transparent ${t} us (+$((t - d)) us)"
echo "policy DNS: getaddrinfo of an allowed name inside the sandbox, median ${dns} us"
