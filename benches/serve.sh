#!/usr/bin/env bash
# Benchmark of `leakhound serve` (issue #18) against a local distribution registry:
#   - webhook latency: $POSTS `PUSH_ARTIFACT` posts (Harbor's payload shape) one after another,
#     each a new digest (a committed, fsynced queue row), then again as duplicates; p50/p99/max
#     of the answer (target: < 10 ms: the webhook only enqueues);
#   - a cold image (one ~$LAYER_MB MB text layer plus a small app layer) against a second image
#     over the same layers (a new config only): the cached image's scan should cost only its
#     manifest and config fetch (target: < 100 ms); the registry's access log shows the GETs
#     that scan made; and `leakhound image` of the cold image, which its serve scan should match.
#
# Usage: benches/serve.sh              (LEAKHOUND=target/release/leakhound for release figures)
# Env:   POSTS (default 500), LAYER_MB (default 40), LEAKHOUND (default target/debug/leakhound,
#        built when missing).
# Prints figures; nothing here asserts (timings vary with the machine's load).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POSTS=${POSTS:-500}
LAYER_MB=${LAYER_MB:-40}
BIN=${LEAKHOUND:-$ROOT/target/debug/leakhound}
command -v docker-registry >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --quiet)

RUN=$(mktemp -d /tmp/leakhound-serve-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REG=127.0.0.1:$(free_port)
cat >"$RUN/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $RUN/storage
http:
  addr: $REG
  secret: bench-http-secret-not-sensitive
EOF
docker-registry serve "$RUN/registry.yml" >"$RUN/registry.log" 2>&1 &
PIDS+=($!)

SERVE=127.0.0.1:$(free_port)
export LEAKHOUND_WEBHOOK_SECRET="Bearer bench-webhook-secret-not-sensitive"
"$BIN" serve "$REG" --insecure-registry --listen "$SERVE" --cache "$RUN/cache.db" \
  --results "$RUN/results" 2>"$RUN/serve.log" &
PIDS+=($!)

python3 - "$REG" "$SERVE" "$POSTS" "$LAYER_MB" "$RUN" <<'PY'
import gzip, hashlib, http.client, io, json, os, random, re, sys, tarfile, time

reg, serve, posts, layer_mb, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
auth = os.environ["LEAKHOUND_WEBHOOK_SECRET"]

def wait_up(addr, path):
    for _ in range(500):
        try:
            c = http.client.HTTPConnection(addr, timeout=2); c.request("GET", path)
            if c.getresponse().status in (200, 401): return
        except OSError: pass
        time.sleep(0.02)
    sys.exit(f"{addr} did not come up")

def sha(data): return "sha256:" + hashlib.sha256(data).hexdigest()

def blob(repo, data):
    c = http.client.HTTPConnection(reg)
    c.request("POST", f"/v2/{repo}/blobs/uploads/"); r = c.getresponse(); r.read()
    loc = r.getheader("Location"); loc = loc[loc.index("/v2/"):] if "://" in loc else loc
    sep = "&" if "?" in loc else "?"
    c.request("PUT", f"{loc}{sep}digest={sha(data)}", body=data,
              headers={"Content-Type": "application/octet-stream"})
    r = c.getresponse(); r.read(); assert r.status == 201, r.status
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(data), "size": len(data)}

def layer(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 1704067200
            t.addfile(info, io.BytesIO(data))
    raw = out.getvalue()
    return gzip.compress(raw, 1, mtime=0), sha(raw)

def image(repo, tag, layers, env):
    descs = [blob(repo, g) for g, _ in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": env},
                         "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}}).encode()
    cdesc = blob(repo, config); cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": cdesc, "layers": descs}).encode()
    c = http.client.HTTPConnection(reg)
    c.request("PUT", f"/v2/{repo}/manifests/{tag}", body=manifest,
              headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    r = c.getresponse(); r.read(); assert r.status == 201, r.status
    return sha(manifest)

def event(repo, digest, tag):
    ns, name = repo.split("/", 1)
    return json.dumps({"type": "PUSH_ARTIFACT", "occur_at": int(time.time()), "operator": "bench",
        "event_data": {"resources": [{"digest": digest, "tag": tag, "resource_url": f"{reg}/{repo}:{tag}"}],
                       "repository": {"name": name, "namespace": ns, "repo_full_name": repo, "repo_type": "private"}}})

conn = http.client.HTTPConnection(serve)
def post(body):
    t = time.perf_counter()
    conn.request("POST", "/harbor", body=body, headers={"Authorization": auth, "Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    return r.status, (time.perf_counter() - t) * 1000

def metric(name):
    c = http.client.HTTPConnection(serve); c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    m = re.search(rf"^leakhound_serve_{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0

def wait_scanned(n):
    while metric("artifacts_scanned_total") + metric("artifacts_failed_total") < n: time.sleep(0.01)

def pct(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))]

wait_up(reg, "/v2/"); wait_up(serve, "/healthz")

# --- webhook latency: new digests (a committed row each), then duplicates ------------------
# The digests name nothing in the registry: each becomes a failed scan in the background,
# which is the worst case for the queue's writer (the workers write too).
fake = [f"sha256:{hashlib.sha256(str(i).encode()).hexdigest()}" for i in range(posts)]
new = [post(event("bench/latency", d, "v1")) for d in fake]
dup = [post(event("bench/latency", d, "v2")) for d in fake]
for label, xs in (("new digest", new), ("duplicate", dup)):
    ms = [t for s, t in xs]
    codes = sorted({s for s, _ in xs})
    print(f"webhook, {label:10}  {len(ms)} posts  p50 {pct(ms, .5):.2f} ms  p99 {pct(ms, .99):.2f} ms  max {max(ms):.2f} ms  answers {codes}")

# --- cold image vs an image over cached layers --------------------------------------------
rng = random.Random(7)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(5000)]
big = b"\n".join(b" ".join(rng.choice(words) for _ in range(12)) for _ in range(layer_mb * 1024 * 1024 // 80))
base = layer([("usr/share/doc/corpus.txt", big)])
app = layer([("app/VERSION", b"1.0\n")])
wait_scanned(posts)
before = metric("artifacts_scanned_total") + metric("artifacts_failed_total")
cold = image("bench/app", "v1", [base, app], ["A=1"])
warm = image("bench/other", "v1", [base, app], ["A=2"])
for i, (repo, digest) in enumerate((("bench/app", cold), ("bench/other", warm))):
    s0 = metric("scan_seconds_sum")
    status, ms = post(event(repo, digest, "v1"))
    wait_scanned(before + i + 1)
    took = (metric("scan_seconds_sum") - s0) * 1000
    print(f"{'cold image' if i == 0 else 'cached layers':13}  scan {took:8.1f} ms  (webhook answered {status} in {ms:.2f} ms)")
print(f"layers scanned {metric('layers_scanned_total'):.0f}, layer cache hits {metric('layer_cache_hits_total'):.0f}")
# What the cached image's scan asked the registry (its push used PUT/POST and HEAD of blobs).
asked = re.findall(r'"(GET) /v2/bench/other/(\w+)/', open(f"{run}/registry.log").read())
print("cached image's scan, registry GETs:", ", ".join(sorted(f"{k} {n}" for k, n in
      {kind: sum(1 for _, k in asked if k == kind) for _, kind in asked}.items())))
PY
grep -E "bench/(app|other)" "$RUN/serve.log" | sed 's/^/  /'
# A new layer should cost what `leakhound image` costs for it: the cold image again, by `image`.
t0=$(date +%s%N)
"$BIN" image "$REG/bench/app:v1" --insecure-registry --quiet --format json >/dev/null || true
echo "leakhound image of the cold image: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
