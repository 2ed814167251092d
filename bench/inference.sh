#!/usr/bin/env bash
# bench/inference.sh — the inference router (inference.local) against direct requests
# to the same OpenAI-compatible provider, all on 127.0.0.1, in one run:
#   - streamed completions (SSE): time to the first body byte and to the end of the
#     body, direct vs through the router (target, issue 7: <= 2 ms added to first byte);
#   - small non-streamed completions: requests/second on keep-alive connections.
# The provider, the router and the client each run on their own single-threaded tokio
# runtime (crates/inference/examples/router_bench.rs). The router does everything it
# does for a sandbox: credential stripping and injection, model rewrite, usage parsing,
# budget accounting (no limits set), pooled upstream connections; audit is off.
# Usage: bench/inference.sh   (env: REQUESTS=4000 EVENTS=20 CONCURRENCY=8 RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p cordon-inference --example router_bench
"$CARGO_TARGET_DIR/release/examples/router_bench" \
  --requests "${REQUESTS:-4000}" --events "${EVENTS:-20}" \
  --concurrency "${CONCURRENCY:-8}" --runs "${RUNS:-5}"
