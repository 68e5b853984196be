#!/bin/sh
# leakhound-ci: the script behind ci/leakhound.gitlab-ci.yml. It decides which commits a GitLab
# pipeline must scan, makes sure a shallow clone holds them, runs `leakhound git`, and turns the
# outcome into the job's exit status. Install it next to leakhound in the job image
# (`install -m 755 ci/leakhound-ci.sh /usr/local/bin/leakhound-ci`).
#
# What it scans, from the variables GitLab sets:
#   schedule, or LEAKHOUND_FULL_HISTORY=true  every branch and tag, whole history (unshallowed)
#   merge request pipeline                    $CI_MERGE_REQUEST_DIFF_BASE_SHA..$CI_COMMIT_SHA
#   branch push                               $CI_COMMIT_BEFORE_SHA..$CI_COMMIT_SHA: every pushed
#                                             commit, not only the last one
#   new branch (all-zeros before sha)         merge-base with $CI_DEFAULT_BRANCH..$CI_COMMIT_SHA,
#                                             or the branch's whole history when there is none
#   force push                                the before sha is fetched when the server still
#                                             has it (before..tip = the commits new to the
#                                             branch); otherwise as a new branch
# Settings (CI/CD variables):
#   LEAKHOUND                   the binary (default: leakhound)
#   LEAKHOUND_REPORT            report path (default: gl-secret-detection-report.json)
#   LEAKHOUND_FORMAT            report format (default: gitlab)
#   LEAKHOUND_FAIL_ON_FINDINGS  true (default): findings fail the job; false: report only
#   LEAKHOUND_FULL_HISTORY      true: scan everything whatever the pipeline
#   LEAKHOUND_BASELINE          a JSON report of accepted findings (--baseline), when present
#   LEAKHOUND_CONFIG            a config file (--config), e.g. one kept outside the scanned project
#   LEAKHOUND_REPO_CONFIG       false (default): ignore the project's .leakhound.toml/.gitleaks.toml
#                               (--no-repo-config), since the pushed commit could turn rules off
#                               for its own scan; true: honour it
#   LEAKHOUND_ARGS              extra arguments for `leakhound git` (word-split)
#   LEAKHOUND_DEEPEN            first deepening step for shallow clones (default: 50, doubles)
set -eu

ZEROS=0000000000000000000000000000000000000000
LEAKHOUND=${LEAKHOUND:-leakhound}
REPORT=${LEAKHOUND_REPORT:-gl-secret-detection-report.json}
FORMAT=${LEAKHOUND_FORMAT:-gitlab}
FAIL_ON_FINDINGS=${LEAKHOUND_FAIL_ON_FINDINGS:-true}
STEP=${LEAKHOUND_DEEPEN:-50}

say() { printf 'leakhound-ci: %s\n' "$*" >&2; }

cd "${CI_PROJECT_DIR:-.}"

is_shallow() { [ "$(git rev-parse --is-shallow-repository)" = true ]; }
have_commit() { git cat-file -e "$1^{commit}" 2>/dev/null; }
is_zero() { [ -z "$1" ] || [ "$1" = "$ZEROS" ]; }

# The refs that lead to the commits we need, as fetch refspecs.
refspecs() {
  set -- "+refs/heads/${CI_COMMIT_BRANCH:-${CI_COMMIT_REF_NAME:-HEAD}}:refs/remotes/origin/${CI_COMMIT_BRANCH:-${CI_COMMIT_REF_NAME:-HEAD}}"
  if [ -n "${CI_MERGE_REQUEST_IID:-}" ]; then
    set -- "+refs/merge-requests/$CI_MERGE_REQUEST_IID/head:refs/remotes/origin/merge-requests/$CI_MERGE_REQUEST_IID"
    [ -n "${CI_MERGE_REQUEST_TARGET_BRANCH_NAME:-}" ] &&
      set -- "$@" "+refs/heads/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME:refs/remotes/origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
  fi
  case " $* " in
    *" +refs/heads/${CI_DEFAULT_BRANCH:-}:"*) ;;
    *) [ -n "${CI_DEFAULT_BRANCH:-}" ] &&
      set -- "$@" "+refs/heads/$CI_DEFAULT_BRANCH:refs/remotes/origin/$CI_DEFAULT_BRANCH" ;;
  esac
  printf '%s\n' "$@"
}

fetch() { # fetch OPTIONS...: the refs above, with OPTIONS (--deepen=N, --unshallow)
  # shellcheck disable=SC2046 # one refspec a line, no spaces in refs
  git fetch --quiet --no-tags "$@" origin $(refspecs) 2>/dev/null ||
    git fetch --quiet --no-tags "$@" origin 2>/dev/null || true
}

# True when walking BASE..TIP runs into the clone's shallow boundary (history is cut there).
cut_short() {
  is_shallow || return 1
  have_commit "$1" || return 0
  shallow=$(git rev-parse --git-path shallow)
  git rev-list "$1..$2" | grep -qxFf "$shallow"
}

# Deepens a shallow clone until BASE..TIP is whole: doubling steps, then the whole history when
# a step gains nothing (the refs we know do not lead there).
deepen() {
  base=$1 tip=$2 step=$STEP
  while cut_short "$base" "$tip"; do
    boundary=$(cat "$(git rev-parse --git-path shallow)")
    say "shallow clone: fetching $step more commits"
    fetch --deepen="$step"
    is_shallow || break
    if [ "$(cat "$(git rev-parse --git-path shallow)")" = "$boundary" ] || [ "$step" -ge 100000 ]; then
      say "fetching the whole history"
      fetch --unshallow
      break
    fi
    step=$((step * 2))
  done
}

# The commit a new branch starts from: where it leaves the default branch.
branch_point() {
  [ -n "${CI_DEFAULT_BRANCH:-}" ] || return 1
  [ "${CI_COMMIT_BRANCH:-}" != "$CI_DEFAULT_BRANCH" ] || return 1
  default="refs/remotes/origin/$CI_DEFAULT_BRANCH"
  git rev-parse --verify --quiet "$default" >/dev/null || fetch --depth="$STEP"
  git rev-parse --verify --quiet "$default" >/dev/null || return 1
  while ! git merge-base "$default" "$1" >/dev/null 2>&1; do
    is_shallow || return 1
    fetch --deepen="$STEP"
    is_shallow || continue
    [ "$STEP" -lt 100000 ] || fetch --unshallow
    STEP=$((STEP * 2))
  done
  git merge-base "$default" "$1"
}

set --
if [ -n "${LEAKHOUND_BASELINE:-}" ] && [ -f "$LEAKHOUND_BASELINE" ]; then
  set -- --baseline "$LEAKHOUND_BASELINE"
fi
if [ -n "${LEAKHOUND_CONFIG:-}" ]; then
  set -- "$@" --config "$LEAKHOUND_CONFIG"
fi
if [ "${LEAKHOUND_REPO_CONFIG:-false}" != true ]; then
  set -- "$@" --no-repo-config
fi
tip=${CI_COMMIT_SHA:-$(git rev-parse HEAD)}

if [ "${LEAKHOUND_FULL_HISTORY:-}" = true ] || [ "${CI_PIPELINE_SOURCE:-}" = schedule ]; then
  say "full history scan"
  if is_shallow; then
    git fetch --quiet --unshallow --tags origin '+refs/heads/*:refs/remotes/origin/*'
  else
    git fetch --quiet --tags origin '+refs/heads/*:refs/remotes/origin/*' || true
  fi
  range=""
else
  if [ -n "${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}" ]; then
    base=$CI_MERGE_REQUEST_DIFF_BASE_SHA
    say "merge request: scanning $base..$tip"
  elif ! is_zero "${CI_COMMIT_BEFORE_SHA:-}"; then
    base=$CI_COMMIT_BEFORE_SHA
    say "push: scanning $base..$tip"
  else
    base=""
  fi
  if [ -n "$base" ]; then
    # Ask for the base by id first (GitLab answers that): cheaper than deepening blindly, and
    # after a force push the old head is on no branch any more.
    have_commit "$base" || git fetch --quiet --no-tags --depth=1 origin "$base" 2>/dev/null || true
    deepen "$base" "$tip"
    if ! have_commit "$base"; then
      say "$base is gone from the server (force push?): scanning as a new branch"
      base=""
    fi
  fi
  if [ -z "$base" ]; then
    if base=$(branch_point "$tip"); then
      say "new branch: scanning $base..$tip (from $CI_DEFAULT_BRANCH)"
    else
      say "new branch with no default branch to start from: scanning its whole history"
      is_shallow && fetch --unshallow
      base=""
    fi
  fi
  if [ -n "$base" ]; then range="$base..$tip"; else range=""; fi
fi

status=0
if [ -n "$range" ]; then
  # shellcheck disable=SC2086 # LEAKHOUND_ARGS is word-split on purpose
  "$LEAKHOUND" git . --range "$range" --format "$FORMAT" --report "$REPORT" "$@" ${LEAKHOUND_ARGS:-} || status=$?
elif [ "${LEAKHOUND_FULL_HISTORY:-}" = true ] || [ "${CI_PIPELINE_SOURCE:-}" = schedule ]; then
  # shellcheck disable=SC2086
  "$LEAKHOUND" git . --format "$FORMAT" --report "$REPORT" "$@" ${LEAKHOUND_ARGS:-} || status=$?
else
  # shellcheck disable=SC2086
  "$LEAKHOUND" git . --branch "$tip" --format "$FORMAT" --report "$REPORT" "$@" ${LEAKHOUND_ARGS:-} || status=$?
fi

case $status in
  0) say "no secrets found" ;;
  1)
    if [ "$FAIL_ON_FINDINGS" = true ]; then
      say "secrets found: failing the job (LEAKHOUND_FAIL_ON_FINDINGS=false reports without failing)"
      exit 1
    fi
    say "secrets found (not failing: LEAKHOUND_FAIL_ON_FINDINGS=$FAIL_ON_FINDINGS)"
    ;;
  *)
    say "the scan could not be completed (exit $status)"
    exit "$status"
    ;;
esac
