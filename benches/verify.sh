#!/usr/bin/env bash
# `--verify` speed (#16 target: 1,000 findings of 200 distinct secrets against local servers
# answering in 5 ms finish verification in under 3 s). Builds a tree of 1,000 GitLab tokens
# (200 distinct, each in 5 files, half of them live), starts a fake GitLab on 127.0.0.1 that
# answers `personal_access_tokens/self` after 5 ms (the real one cannot run here), and times, in
# the same invocation, `leakhound dir` without `--verify` (the reference), then with it: with
# the default bounds (100 checks a second), with the old cap of 10 a second, and with the cap off
# and more checks in flight. Prints each median, the verification time (verify run minus
# reference) and the ratio to the reference. Measured 2026-12-04 (RUNS=3, 2 shared cores):
# reference 0.111 s; 100/s 2.16 s (verification 2.05 s); 10/s 20.06 s; no cap, 32 in flight 0.43 s.
#
#   benches/verify.sh              # RUNS=5 runs of each
#
# Needs python3 and a Rust toolchain; nothing is fetched.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/tmp/leakhound-bench-verify}
cargo build --release --quiet
export LEAKHOUND=$PWD/target/release/leakhound
rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"

python3 - "$BENCH_DIR" "$RUNS" <<'PY'
import http.server, json, os, random, statistics, subprocess, sys, threading, time

bench, runs = sys.argv[1], int(sys.argv[2])
tree = os.path.join(bench, "tree")
rng = random.Random(16)
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# `glpat-` + 20: assembled here so this script holds no token-shaped literal.
tokens = ["glpat" + "-" + "".join(rng.choice(alphabet) for _ in range(20)) for _ in range(200)]
live = set(tokens[::2])
for i in range(1000):
    d = os.path.join(tree, f"svc{i % 50:02}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"deploy{i}.env"), "w") as f:
        f.write(f"# service {i}\nGITLAB_TOKEN={tokens[i % 200]}\n")

class GitLab(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.005)
        if self.headers.get("PRIVATE-TOKEN") in live:
            status, body = 200, b'{"id":1,"name":"ci","revoked":false,"scopes":["api"],"active":true,"expires_at":null}'
        else:
            status, body = 401, b'{"message":"401 Unauthorized"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitLab)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

def run(extra):
    cmd = [os.environ["LEAKHOUND"], "dir", tree, "--format", "json", "--threads", "2", *extra]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True)
    took = time.perf_counter() - start
    doc = json.loads(out.stdout)
    statuses = [f.get("verification", {}).get("status") for f in doc["findings"]]
    return took, statuses

cases = [
    ("reference: no --verify", []),
    ("--verify (defaults: rate 100/s, 8 in flight)", ["--verify", "--gitlab-url", url]),
    ("--verify --verify-rate 10", ["--verify", "--gitlab-url", url, "--verify-rate", "10"]),
    ("--verify --verify-rate 0 --verify-concurrency 32", ["--verify", "--gitlab-url", url, "--verify-rate", "0", "--verify-concurrency", "32"]),
]
reference = None
for name, extra in cases:
    times = []
    for _ in range(runs):
        took, statuses = run(extra)
        times.append(took)
    median = statistics.median(times)
    assert len(statuses) == 1000, f"{name}: {len(statuses)} findings"
    if extra:
        counts = {s: statuses.count(s) for s in set(statuses)}
        assert counts == {"verified": 500, "invalid": 500}, f"{name}: {counts}"
    if reference is None:
        reference = median
        print(f"{name:50} {median:7.3f} s   (1,000 findings, 200 distinct secrets)")
    else:
        print(f"{name:50} {median:7.3f} s   verification {median - reference:6.3f} s   ratio {median / reference:5.1f}x the reference")
server.shutdown()
PY
