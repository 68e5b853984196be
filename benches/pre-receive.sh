#!/usr/bin/env bash
# Server hook speed (issue #17 target: a push of 10 commits, 50 changed files, to a repository with
# git.git's history in under 150 ms wall, the cost set by the pushed objects, not by the history).
# Measured 2026-12-03 (RUNS=9, 2 shared cores): git.git 64 ms (git push 288 ms), one-commit copy
# 35 ms (git push 142 ms); before walk_new, 1935 ms on git.git.
#
#   benches/pre-receive.sh [HISTORY]     # default: the git.git mirror fetched for benchmarks
#
# Pushes the same 10 commits (5 changed files each, the last adding a fake key so the hook refuses
# and every run scans them again) twice: onto HISTORY's HEAD in a bare clone sharing HISTORY's
# objects, and onto a one-commit copy of the same tree in an otherwise empty repository. The hook
# times `leakhound pre-receive` itself; `git push` wall time is printed beside it as the reference
# of the same invocation.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
HISTORY=${1:-/work/.mirror/git+git/repo}
RUNS=${RUNS:-15}
BENCH_DIR=${BENCH_DIR:-/tmp/leakhound-bench-pre-receive}
[ -d "$HISTORY" ] || { echo "no repository at $HISTORY: give one (a bare clone of git.git is the reference)" >&2; exit 2; }

cargo build --release --quiet
bin=$root/target/release/leakhound
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.org

# Ten commits on top of `base`, written with plumbing (no checkout of the big tree).
series() { # repo base -> prints the tip
  local repo=$1 parent=$2 index=$BENCH_DIR/index.$$ c f
  GIT_INDEX_FILE=$index git -C "$repo" read-tree "$parent"
  for c in $(seq 1 10); do
    for f in $(seq 1 5); do
      local body
      body=$(printf 'name = "service-%s-%s"\nretries = %s\nendpoint = "https://svc%s.internal/api"\n' "$c" "$f" "$f" "$c")
      if [ "$c" = 10 ] && [ "$f" = 5 ]; then
        body="$body"$'\n'"aws_access_key_id = AKIA$(printf 'Q%.0s' {1..4})ZX7P4K2M9TWB"
      fi
      local blob
      blob=$(printf '%s\n' "$body" | git -C "$repo" hash-object -w --stdin)
      GIT_INDEX_FILE=$index git -C "$repo" update-index --add --cacheinfo "100644,$blob,bench/c$c/f$f.toml"
    done
    local tree
    tree=$(GIT_INDEX_FILE=$index git -C "$repo" write-tree)
    parent=$(git -C "$repo" commit-tree "$tree" -p "$parent" -m "bench commit $c")
  done
  rm -f "$index"
  echo "$parent"
}

hook() { # server.git times-file
  cat >"$1/hooks/pre-receive" <<EOF
#!/bin/sh
s=\$(date +%s%N); '$bin' pre-receive 2>>'$2.stderr'; rc=\$?; e=\$(date +%s%N)
echo \$(( (e - s) / 1000 )) >> '$2'; exit \$rc
EOF
  chmod +x "$1/hooks/pre-receive"
}

measure() { # label server.git client-repo tip
  local label=$1 server=$2 client=$3 tip=$4 times=$BENCH_DIR/$1.hook push=$BENCH_DIR/$1.push
  : >"$times"; : >"$push"
  hook "$server" "$times"
  for _ in $(seq 1 "$RUNS"); do
    local s e
    s=$(date +%s%N)
    git -C "$client" push -q "$server" "$tip:refs/heads/bench" 2>/dev/null && { echo "the push was accepted: the planted key was missed" >&2; exit 1; }
    e=$(date +%s%N)
    echo $(( (e - s) / 1000 )) >>"$push"
  done
  python3 - "$label" "$times" "$push" <<'EOF'
import statistics, sys
label, hook, push = sys.argv[1:]
h = [int(x) / 1000 for x in open(hook)]
p = [int(x) / 1000 for x in open(push)]
print(f"{label:>12}: leakhound pre-receive median {statistics.median(h):7.1f} ms (min {min(h):.1f}), "
      f"git push median {statistics.median(p):7.1f} ms, hook/push {statistics.median(h) / statistics.median(p):.2f}")
EOF
}

# Large: a bare clone sharing HISTORY's objects, the series on its HEAD.
git clone -q --bare --shared "$HISTORY" large.git
git clone -q --bare --shared "$HISTORY" client.git
head=$(git -C client.git rev-parse HEAD)
tip=$(series client.git "$head")
echo "history: $(git -C large.git rev-list --all --count) commits; pushing 10 commits, 50 files" >&2
measure large "$BENCH_DIR/large.git" client.git "$tip"

# Small: the same tree as one root commit, pushed first without the hook.
git init -q --bare small.git
root_commit=$(git -C client.git commit-tree "$head^{tree}" -m "one-commit copy")
git -C client.git push -q "$BENCH_DIR/small.git" "$root_commit:refs/heads/main"
small_tip=$(series client.git "$root_commit")
measure small "$BENCH_DIR/small.git" client.git "$small_tip"
