#!/usr/bin/env bash
# Named sandboxes, one run (issue 6): medians of
#   - `cordon create NAME -- sleep 600` until it returns (it returns once the main process
#     has exec'd: the supervisor reports readiness after the agent's execve);
#   - `cordon exec NAME -- true` (a new process in the running sandbox, through the
#     supervisor and the sandbox's init, until its exit status is back);
#   - supervisor RSS idle, and of each supervisor while 20 sandboxes run;
#   - hot reload: saving the `--policy` file of a running `cordon run` until the agent's
#     next request sees the new generation (allow->deny and back, 10 times each).
# Targets: create <= 50 ms, exec <= 15 ms, idle supervisor <= 20 MB RSS, reload <= 100 ms.
#
# Usage: bench/lifecycle.sh [--runs N]   (release build; needs hyperfine, python3)
# Runs as the invoking user, with a private XDG_STATE_HOME that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=100
if [ "${1:-}" = "--runs" ]; then runs=$2; fi

for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "lifecycle.sh: $tool is required" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-target}
cargo build --release -p cordon >&2
cordon="$(realpath "$target/release/cordon")"

state=$(mktemp -d /var/tmp/cordon-bench-lifecycle.XXXXXX)
export XDG_STATE_HOME="$state"
cleanup() {
  for dir in "$state"/cordon/sandboxes/*/; do
    [ -d "$dir" ] && "$cordon" rm --force "$(basename "$dir")" >/dev/null 2>&1 || true
  done
  rm -rf "$state"
}
trap cleanup EXIT

# create: the sandbox is removed before each run (not timed).
hyperfine -N --warmup 5 --runs "$runs" --export-json "$state/create.json" \
  --prepare "sh -c '$cordon rm --force bench-create 2>/dev/null; true'" \
  -n create "$cordon create bench-create -- sleep 600" >&2

"$cordon" create bench-exec -- sleep 600 >/dev/null
hyperfine -N --warmup 20 --runs "$((runs * 2))" --export-json "$state/exec.json" \
  -n exec "$cordon exec bench-exec -- true" >&2

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
supervisor_of() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["supervisor_pid"])' \
    "$state/cordon/sandboxes/$1/state.json"
}

sleep 1 # let the runtime settle
idle=$(rss_kib "$(supervisor_of bench-exec)")

for i in $(seq -w 1 19); do "$cordon" create "bench-$i" -- sleep 600 >/dev/null; done
sleep 1
fleet=()
for dir in "$state"/cordon/sandboxes/*/; do
  name=$(basename "$dir")
  [ "$name" = bench-create ] && continue
  fleet+=("$(rss_kib "$(supervisor_of "$name")")")
done

# Hot reload: an agent fetching in a loop through the proxy, the policy file swapped by
# rename (as editors save) between a host that is allowed and one that is not.
work="$state/reload"; mkdir -p "$work/w"; chmod 777 "$work/w"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do port=$(grep -o 'port [0-9]*' "$work/server.log" | grep -o '[0-9]*' || true); [ -n "$port" ] && break; sleep 0.05; done
policy() { printf 'version: 1\nnetwork_policies:\n  api:\n    endpoints:\n      - { host: %s, port: %s }\n    binaries:\n      - { path: "/**" }\n' "$1" "$port"; }
policy api.test >"$work/policy.yaml"; policy api.test >"$work/allow.yaml"; policy other.test >"$work/deny.yaml"
"$cordon" run --policy "$work/policy.yaml" --workdir "$work/w" --add-host api.test:127.0.0.1 -- python3 -c "
import os, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({'http': os.environ['HTTP_PROXY']}))
out = open('/sandbox/codes', 'w', buffering=1)
while not os.path.exists('/sandbox/stop'):
    try: code = opener.open('http://api.test:$port/').status
    except Exception as e: code = getattr(e, 'code', 0)
    out.write(f'{time.time()} {code}\\n')
" &
agent=$!
sleep 1
reload=$(python3 - "$work" <<'PY'
import os, shutil, statistics, sys, time
work = sys.argv[1]
def save(src):
    shutil.copy(f"{work}/{src}", f"{work}/policy.tmp")
    t = time.time()
    os.rename(f"{work}/policy.tmp", f"{work}/policy.yaml")
    return t
def first(code, after):
    deadline = time.time() + 5
    while time.time() < deadline:
        for line in open(f"{work}/w/codes"):
            ts, c = line.split()
            if float(ts) > after and c == code:
                return float(ts)
        time.sleep(0.002)
    return float("inf")
samples = []
for _ in range(10):
    for src, code in (("deny.yaml", "403"), ("allow.yaml", "200")):
        t = save(src)
        samples.append((first(code, t) - t) * 1000)
        time.sleep(0.2)
print(f"{statistics.median(samples):.1f}")
PY
)
touch "$work/w/stop"; wait "$agent" || true; kill "$server" 2>/dev/null || true

python3 - "$state/create.json" "$state/exec.json" "$reload" "$idle" "${fleet[@]}" <<'PY'
import json, statistics, sys
create = json.load(open(sys.argv[1]))["results"][0]["median"] * 1000
exec_ = json.load(open(sys.argv[2]))["results"][0]["median"] * 1000
reload = float(sys.argv[3])
idle = int(sys.argv[4])
fleet = [int(x) for x in sys.argv[5:]]
print(f"create until the main process runs: median {create:6.2f} ms (target <= 50)")
print(f"exec NAME -- true:                  median {exec_:6.2f} ms (target <= 15)")
print(f"policy file saved -> in force:     median {reload:6.2f} ms (target <= 100)")
print(f"supervisor RSS, idle:               {idle / 1024:6.1f} MiB (target <= 20)")
print(f"supervisor RSS, {len(fleet)} sandboxes running: median {statistics.median(fleet) / 1024:.1f} MiB "
      f"per supervisor, {sum(fleet) / 1024:.1f} MiB for all")
ok = create <= 50 and exec_ <= 15 and reload <= 100 and idle <= 20 * 1024
sys.exit(0 if ok else 1)
PY
