#!/usr/bin/env bash
# How long the HTML report (`--format html`, issue #18) takes to render in headless Chromium with
# 20,000 findings (the issue's budget: under 2 s).
#
#   benches/html.sh [FINDINGS]
#
# Builds a tree of FINDINGS fake AWS access key ids (default 20000; 10 a file, 100 files a
# directory), scans it with `leakhound dir --format html`, then opens the report RUNS times (5)
# with `chromium --headless --dump-dom`. The page records two figures on <body>:
# data-render-ms, from its script's start (JSON parse, grouping, sorting, the first page of rows,
# layout) and data-loaded-ms, the same end point since navigation started (reading and parsing
# the file too). Prints the medians. Needs Debian's chromium and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
findings=${1:-20000}
runs=${RUNS:-5}
work=${LEAKHOUND_BENCH_DIR:-/tmp/leakhound-bench}/html-$findings
bin=${LEAKHOUND:-$here/target/debug/leakhound}
[[ -x $bin ]] || (cd "$here" && cargo build --quiet)
command -v chromium >/dev/null || { echo "needs chromium (apt-get install chromium)" >&2; exit 2; }

if [[ ! -d $work/tree ]]; then
  mkdir -p "$work"
  python3 - "$work/tree" "$findings" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(18)
base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
for i in range(0, n, 10):
    d = os.path.join(root, f"svc{i // 1000:03d}", "config")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"deploy-{i // 10:05d}.env"), "w") as f:
        for j in range(min(10, n - i)):
            key = "AKIA" + "".join(rng.choice(base32) for _ in range(16))
            f.write(f"AWS_ACCESS_KEY_ID_{j}={key}\n")
PY
fi
report=$work/report.html
status=0
(cd "$work/tree" && "$bin" dir . --min-confidence low --format html --quiet >"$report") || status=$?
[[ $status == 1 ]] || { echo "leakhound dir exited $status" >&2; exit 2; }
count=$(python3 -c 'import json,re,sys; t=open(sys.argv[1]).read(); m=re.search(r"<script id=\"data\" type=\"application/json\">(.*?)</script>", t, re.S); print(len(json.loads(m.group(1))["findings"]))' "$report")

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
render=() loaded=()
for _ in $(seq "$runs"); do
  dom=$(chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$profile" --proxy-server=http://127.0.0.1:9 --dump-dom "file://$report" 2>/dev/null)
  render+=("$(grep -o 'data-render-ms="[0-9]*"' <<<"$dom" | grep -o '[0-9]*')")
  loaded+=("$(grep -o 'data-loaded-ms="[0-9]*"' <<<"$dom" | grep -o '[0-9]*')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "findings: $count  report: $(du -h "$report" | cut -f1)  runs: $runs"
echo "render (script start to laid-out table), median ms: $(median "${render[@]}")  [${render[*]}]"
echo "load (navigation start to laid-out table), median ms: $(median "${loaded[@]}")  [${loaded[*]}]"
