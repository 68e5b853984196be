#!/usr/bin/env bash
# Archives (issue #15): `leakhound dir` over a directory of wheels and jars against the cost of
# inflating every member (`unzip -p` of each archive to /dev/null) and against Kingfisher, which
# also looks inside archives, in the same invocation so the ratios hold on a noisy machine.
#
#   benches/archives.sh [DIR]
#
# Without DIR it fills one under /tmp with about 200 MB of wheels of a data-science and cloud
# stack (pip download from PyPI; nothing is committed), plus the jars of a local Maven
# repository (~/.m2) when there is one. Kingfisher comes from PyPI (kingfisher-bin) into a venv
# under /tmp and runs with --no-validate (no network). Targets: leakhound >= 3x faster than
# Kingfisher, and within 1.5x of unzip -p.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${LEAKHOUND_BENCH_DIR:-/tmp/leakhound-bench}
mkdir -p "$work"

tree=${1:-}
if [[ -z $tree ]]; then
  tree=$work/archives
  mkdir -p "$tree"
  if (( $(du -sm "$tree" | cut -f1) < 150 )); then
    # Fixed versions, so every run scans the same bytes.
    pip download -q --only-binary=:all: --no-deps --python-version 3.11 \
      --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d "$tree" \
      numpy==2.1.3 pandas==2.2.3 scipy==1.14.1 scikit-learn==1.5.2 matplotlib==3.9.2 \
      pillow==11.0.0 pyarrow==18.0.0 sqlalchemy==2.0.36 cryptography==43.0.3 grpcio==1.67.1 \
      botocore==1.35.54 opencv-python-headless==4.10.0.84 statsmodels==0.14.4 \
      transformers==4.46.1 sympy==1.13.3
    if [[ -d $HOME/.m2/repository ]]; then
      mkdir -p "$tree/m2"
      find "$HOME/.m2/repository" -name '*.jar' -size -50M -exec cp -n {} "$tree/m2/" \;
    fi
  fi
fi
mapfile -t archives < <(find "$tree" -type f \( -name '*.whl' -o -name '*.jar' -o -name '*.zip' \) | sort)
bytes=$(cat "${archives[@]}" | wc -c)
inflated=$(for a in "${archives[@]}"; do unzip -Zt "$a"; done | awk '{s += $3} END {printf "%d", s}')
echo "tree: $tree (${#archives[@]} archives, $((bytes / 1000000)) MB stored, $((inflated / 1000000)) MB inflated)"

peers=$work/peers
[[ -x $peers/bin/kingfisher ]] || { python3 -m venv "$peers" && "$peers/bin/pip" install -q kingfisher-bin; }

(cd "$here" && cargo build --release --quiet)
bin=$here/target/release/leakhound
list=$work/archives.list
printf '%s\n' "${archives[@]}" >"$list"

# Warm the page cache so every tool reads from memory.
cat "${archives[@]}" >/dev/null

# Whole wheels are larger than the default --max-file-size (10M): let every tool open them all.
# unzip runs one archive after another (one core); leakhound and Kingfisher use every core, as
# users run them. Interleaved rounds: this machine's speed drifts within a minute.
medians=$work/archives-medians.json
ROUNDS_OUT=$medians python3 "$here/benches/rounds.py" "$bytes" "${RUNS:-5}" \
  unzip "xargs -a '$list' -d '\n' -n1 unzip -p -qq >/dev/null" \
  leakhound "$bin dir '$tree' --quiet --max-file-size 512M --format json --report /dev/null" \
  kingfisher "$peers/bin/kingfisher scan '$tree' --git-history none --no-validate --max-file-size 512 >/dev/null 2>&1"
python3 - "$medians" <<'PY'
import json, sys
med = json.load(open(sys.argv[1]))
lh = med["leakhound"]
print(f"\nleakhound vs Kingfisher: {med['kingfisher'] / lh:.1f}x faster (target >= 3x)")
print(f"leakhound time vs unzip -p: {lh / med['unzip']:.2f}x (target <= 1.5x)")
PY

# What each found, and leakhound's counters: the ratios mean little if one tool skipped the work.
"$bin" dir "$tree" --quiet --max-file-size 512M --format json --report "$work/archives.json" || true
python3 - "$work/archives.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
s = doc["stats"]
print(f"leakhound: {s['archives']} archives, {s['archive_members']} members, {s['scanned']} text "
      f"blobs ({s['bytes'] / 1e6:.0f} MB) scanned, {s['skipped_binary']} binary, "
      f"{s['skipped_too_large']} too large, {len(doc['findings'])} findings, "
      f"{len(doc['errors'])} errors, {len(doc['skipped'])} named as not scanned")
PY
/usr/bin/time -f "leakhound peak RSS: %M KB" "$bin" dir "$tree" --quiet --max-file-size 512M \
  --format json --report /dev/null || true
