#!/usr/bin/env bash
# Measures what ci/leakhound-ci.sh costs on a push to a long history: a bare origin with
# $HISTORY commits, a push of $PUSHED commits whose FIRST adds a secret, a runner-style clone at
# GIT_DEPTH=20, then the script. Prints the fetch rounds, the commits it fetched, the wall time,
# and whether the secret was found at its commit. Usage: benches/ci-deepen.sh [HISTORY] [PUSHED]
set -euo pipefail
HISTORY=${1:-2000} PUSHED=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LEAKHOUND:-$root/target/debug/leakhound}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@example.com
git init -q --bare "$work/origin.git"
git init -q -b main "$work/dev"
cd "$work/dev"
git remote add origin "file://$work/origin.git"
# fast-import: HISTORY commits, each changing one file.
{
  for ((i = 1; i <= HISTORY; i++)); do
    printf 'commit refs/heads/main\ncommitter bench <b@example.com> %d +0000\ndata 4\nc%03d\n' $((1700000000 + i)) $((i % 1000))
    ((i > 1)) || true
    printf 'M 644 inline file%d.txt\ndata %d\nline %d\n\n' $((i % 50)) $((${#i} + 6)) "$i"
  done
} | git fast-import --quiet
git reset -q --hard main
git push -q origin main
before=$(git rev-parse HEAD)
printf 'KEY=AKIA%s\n' EFR6EDT4SYWB5WKH > secret.env && git add secret.env && git commit -qm "add secret"
secret_commit=$(git rev-parse HEAD)
git rm -q secret.env && git commit -qm "remove secret"
for ((i = 3; i <= PUSHED; i++)); do echo "$i" >>notes.txt; git add notes.txt; git commit -qm "p$i"; done
git push -q origin main
tip=$(git rev-parse HEAD)
mkdir "$work/clone" && cd "$work/clone"
git init -q && git remote add origin "file://$work/origin.git"
git fetch -q --depth 20 origin +refs/heads/main:refs/remotes/origin/main && git checkout -q -f "$tip"
start=$(date +%s.%N)
set +e
CI_PROJECT_DIR=$PWD CI_PIPELINE_SOURCE=push CI_COMMIT_SHA=$tip CI_COMMIT_BEFORE_SHA=$before \
  CI_COMMIT_BRANCH=main CI_COMMIT_REF_NAME=main CI_DEFAULT_BRANCH=main LEAKHOUND=$bin \
  LEAKHOUND_DEEPEN=20 sh "$root/ci/leakhound-ci.sh" 2>"$work/err" >/dev/null
status=$?
set -e
end=$(date +%s.%N)
rounds=$(grep -c 'fetching' "$work/err" || true)
have=$(git rev-list --count HEAD)
found=$(grep -c "\"sha\": \"$secret_commit\"" gl-secret-detection-report.json 2>/dev/null || true)
printf 'history %d commits, pushed %d; clone depth 20 -> %d commits after %d fetch round(s); exit %d; %.2fs; secret found at its commit: %s\n' \
  "$HISTORY" "$PUSHED" "$have" "$rounds" "$status" "$(echo "$end - $start" | bc)" "$([ "${found:-0}" -gt 0 ] && echo yes || echo no)"
