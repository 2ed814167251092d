#!/usr/bin/env bash
# bench/l7.sh — small HTTPS requests on keep-alive connections, in one run:
#   direct to the origin, through a CONNECT tunnel (no inspection), and through L7
#   inspection (TLS terminated with a sandbox-CA leaf, every request decided by the
#   policy engine, re-encrypted to the origin over verified TLS).
# Reports sequential requests/s and p50/p99 latency on one connection, the p50 added
# over direct, and requests/s with several connections in parallel (and its share of
# direct). Targets (issue 5): added p50 <= 1 ms; L7 keep-alive throughput >= 40 % of
# direct. Everything is in one process on 127.0.0.1 (bench/src/bin/l7_bench.rs).
# Usage: bench/l7.sh   (env: REQUESTS=5000 CONCURRENCY=8 RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p cordon-bench --bin l7-bench
# HAProxy, when installed (apt-get install haproxy), is measured doing the same TLS bump
# as a reference for what this machine allows a mature proxy.
reference=()
if command -v haproxy >/dev/null; then reference=(--haproxy "$(command -v haproxy)"); fi
"$CARGO_TARGET_DIR/release/l7-bench" \
  --requests "${REQUESTS:-5000}" --concurrency "${CONCURRENCY:-8}" --runs "${RUNS:-5}" "${reference[@]}"
