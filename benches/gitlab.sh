#!/usr/bin/env bash
# Benchmark of `leakhound gitlab` (issue #20) against a GitLab on 127.0.0.1: a small server
# (Python, below) that answers the group projects listing as GitLab's REST API v4 does and serves
# the repositories through `git http-backend` (Debian's git), so clones and fetches are real.
#
# Projects: every bare repository given in REPOS, under the group `bench` (default: the synthetic
# 20,000-commit history twice, as bench/a and bench/b, and git's own history when REAL is set to
# its mirror). Rows, each timed once:
#   - reference: `git clone --mirror` of every project (what the network part costs) plus
#     `leakhound git --cache` on each clone (what the scans cost), the two summed;
#   - first night: `leakhound gitlab` into an empty work directory and cache (clone + scan);
#   - second night: nothing new (fetch + cached scan), as a ratio to the first.
#
# Usage: benches/gitlab.sh
# Env:   LEAKHOUND (default target/release/leakhound), REPOS (space-separated bare repositories),
#        REAL (a bare repository added as bench/real), GITLAB_BENCH_DIR (default
#        /tmp/leakhound-gitlab-bench), JOBS (`--jobs`, default 4).
# Prints a table; nothing here asserts (timings vary with the machine's load).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LH=${LEAKHOUND:-$ROOT/target/release/leakhound}
WORK=${GITLAB_BENCH_DIR:-/tmp/leakhound-gitlab-bench}
JOBS=${JOBS:-4}
SYNTHETIC=/tmp/lhbench/history-20000.git
REPOS=${REPOS:-"$SYNTHETIC $SYNTHETIC"}
[ -x "$LH" ] || (cd "$ROOT" && cargo build --release --quiet)
[ -x /usr/lib/git-core/git-http-backend ] || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
}
for repo in $REPOS; do
  if [ ! -d "$repo" ] && [ "$repo" = "$SYNTHETIC" ]; then
    echo "building the synthetic history in $SYNTHETIC (a few minutes)" >&2
    python3 /work/shared/bench/make-history.py "$SYNTHETIC" --commits 20000
  fi
done

rm -rf "$WORK" && mkdir -p "$WORK/served/bench"
names=()
i=0
for repo in $REPOS ${REAL:+$REAL}; do
  name=$(printf "\\x$(printf %x $((97 + i)))")
  [ -n "${REAL:-}" ] && [ "$repo" = "$REAL" ] && name=real
  ln -s "$(cd "$repo" && pwd)" "$WORK/served/bench/$name.git"
  names+=("$name")
  i=$((i + 1))
done

port_file=$WORK/port
python3 - "$WORK/served" "$port_file" "${names[@]}" <<'PY' &
import http.server, json, os, subprocess, sys

served, port_file, names = sys.argv[1], sys.argv[2], sys.argv[3:]

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def listing(self):
        base = f"http://127.0.0.1:{self.server.server_port}"
        projects = [
            {"id": n + 1, "path_with_namespace": f"bench/{name}",
             "http_url_to_repo": f"{base}/bench/{name}.git", "archived": False,
             "repository_access_level": "enabled"}
            for n, name in enumerate(names)
        ]
        self.answer(200, [("Content-Type", "application/json"), ("X-Next-Page", "")],
                    json.dumps(projects).encode())

    def git(self):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=served, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1",
                   HTTP_GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        if self.headers.get("Content-Encoding") == "gzip":
            env["HTTP_CONTENT_ENCODING"] = "gzip"
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.answer(status, headers, payload)

    def do_GET(self):
        if self.path.startswith("/api/v4/groups/bench/projects"):
            self.listing()
        else:
            self.git()

    do_POST = do_GET

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
PY
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$port_file" ] && break; sleep 0.1; done
url=http://127.0.0.1:$(cat "$port_file")

seconds() { # CMD...: wall seconds of CMD (exit 0, 1 and 2 are results, not failures)
  local start end rc=0
  start=$(date +%s.%N)
  "$@" >/dev/null 2>"$WORK/last.err" || rc=$?
  end=$(date +%s.%N)
  if [ "$rc" -gt 2 ]; then cat "$WORK/last.err" >&2; exit "$rc"; fi
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

export LEAKHOUND_GITLAB_TOKEN=bench-token-not-checked
clone=0 scans=0
mkdir -p "$WORK/clones"
for name in "${names[@]}"; do
  c=$(seconds git clone --quiet --mirror "$url/bench/$name.git" "$WORK/clones/$name.git")
  s=$(seconds "$LH" git "$WORK/clones/$name.git" --cache "$WORK/reference.db" --format json \
    --report /dev/null --quiet)
  clone=$(sum "$clone" "$c") scans=$(sum "$scans" "$s")
done
reference=$(sum "$clone" "$scans")
gitlab() {
  seconds "$LH" gitlab "$url" --group bench --insecure --jobs "$JOBS" --workdir "$WORK/mirrors" \
    --cache "$WORK/history.db" --format json --report "$WORK/report-$1.json" --quiet
}
first=$(gitlab 1)
second=$(gitlab 2)
findings() { python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['findings']))" "$1"; }

printf '%s projects (%s), --jobs %s\n' "${#names[@]}" "${names[*]}" "$JOBS"
printf '%-44s %8s\n' "row" "wall s"
printf '%-44s %8.2f\n' "reference: git clone --mirror, each" "$clone"
printf '%-44s %8.2f\n' "reference: leakhound git --cache, each" "$scans"
printf '%-44s %8.2f\n' "reference: the two summed" "$reference"
printf '%-44s %8.2f  (%sx the reference; %s findings)\n' "first night: leakhound gitlab" \
  "$first" "$(ratio "$first" "$reference")" "$(findings "$WORK/report-1.json")"
printf '%-44s %8.2f  (%sx the first night; %s findings)\n' "second night: nothing new" \
  "$second" "$(ratio "$second" "$first")" "$(findings "$WORK/report-2.json")"
