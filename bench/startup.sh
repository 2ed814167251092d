#!/usr/bin/env bash
# Sandbox start-up cost, in one hyperfine run: `cordon run -- true` (release build, every
# layer on) against bubblewrap and unshare doing comparable work, then peak RSS of each.
# Target (issue 3): cordon's median <= 2x bwrap's median in the same run.
#
# Usage: bench/startup.sh [--runs N]   (needs hyperfine, bwrap, unshare, python3, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=200
if [ "${1:-}" = "--runs" ]; then runs=$2; fi

for tool in hyperfine bwrap unshare python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "startup.sh: $tool is required" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-target}
cargo build --release -p cordon >&2
cordon="$target/release/cordon"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cmd_cordon="$cordon run -- true"
cmd_bwrap="bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --unshare-all --die-with-parent true"
cmd_unshare="unshare -Urmpnf true"

hyperfine -N --warmup 20 --runs "$runs" --export-json "$out/startup.json" \
  -n cordon "$cmd_cordon" -n bwrap "$cmd_bwrap" -n unshare "$cmd_unshare" >&2

python3 - "$out/startup.json" "$cmd_cordon" "$cmd_bwrap" "$cmd_unshare" <<'PY'
import json, shlex, subprocess, sys

results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
median = {name: results[name]["median"] * 1000 for name in ("cordon", "bwrap", "unshare")}

print(f"{'':10} {'median ms':>10} {'peak RSS KiB':>13}")
for name, cmd in zip(("unshare", "bwrap", "cordon"), (sys.argv[4], sys.argv[3], sys.argv[2])):
    # GNU time's %M: the largest resident set among the command and the descendants it
    # reaped (measured from a small C parent, so no interpreter is counted before exec).
    rss = subprocess.run(["/usr/bin/time", "-f", "%M", *shlex.split(cmd)],
                         check=True, capture_output=True, text=True).stderr.strip().splitlines()[-1]
    print(f"{name:10} {median[name]:10.2f} {rss:>13}")
ratio = median["cordon"] / median["bwrap"]
print(f"cordon / bwrap median: {ratio:.2f}x (target <= 2.00x)")
sys.exit(0 if ratio <= 2.0 else 1)
PY
