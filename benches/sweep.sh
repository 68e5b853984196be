#!/usr/bin/env bash
# Benchmark of `leakhound sweep` (issue #8) on a local distribution registry:
#   - N images (default 50) built from shared base layers: the debootstrap --variant=minbase
#     bookworm root file system as one layer (~170 MB tar), two middle layers, and one small
#     app layer per image with a planted fake secret;
#   - baseline: every unique layer scanned once (`leakhound image` of one single-layer image per
#     unique layer, all in one run);
#   - first sweep (empty cache) against that baseline (target <= 1.2x);
#   - second sweep, nothing new (target < 2 s);
#   - one new image pushed, third sweep (proportional to its new layer only).
#
# Usage: benches/sweep.sh            (needs root for apt-get and debootstrap on first use)
# Env:   SWEEP_BENCH_DIR (default /tmp/leakhound-sweep-bench; the rootfs is cached there),
#        SWEEP_BENCH_IMAGES (default 50), SWEEP_BENCH_CONCURRENCY (default 4).
# Prints a table; nothing here asserts (timings vary with the machine's load).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${SWEEP_BENCH_DIR:-/tmp/leakhound-sweep-bench}
N=${SWEEP_BENCH_IMAGES:-50}
CONC=${SWEEP_BENCH_CONCURRENCY:-4}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/leakhound
TARF=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@1704067200 --format=gnu)

need=()
for pair in docker-registry:docker-registry umoci:umoci skopeo:skopeo debootstrap:debootstrap; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
(cd "$ROOT" && cargo build --release --quiet)
mkdir -p "$WORK"

# --- the shared base: a Debian minbase root file system, cached ----------------------------
if [ ! -d "$WORK/rootfs" ]; then
  echo "debootstrap (once, ~1 min)..." >&2
  rm -rf "$WORK/rootfs.tmp"
  debootstrap --variant=minbase bookworm "$WORK/rootfs.tmp" >"$WORK/debootstrap.log" 2>&1
  mv "$WORK/rootfs.tmp" "$WORK/rootfs"
fi
if [ ! -f "$WORK/base.tar" ]; then
  tar "${TARF[@]}" -C "$WORK/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./var/cache/apt/archives/*.deb' -cf "$WORK/base.tar.tmp" .
  mv "$WORK/base.tar.tmp" "$WORK/base.tar"
fi

RUN=$(mktemp -d "$WORK/run.XXXXXX")
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$RUN"
}
trap cleanup EXIT

# --- layers: two middle layers and one app layer per image, each with a fake secret --------
fake_key() { # an AWS-style access key id, assembled at run time (no literal in this file)
  printf 'AKIA%s' "$(head -c 64 /dev/urandom | base32 | tr -dc 'A-Z2-7' | head -c 16)"
}
mk_layer() { # dir tar
  tar "${TARF[@]}" -C "$1" -cf "$2" .
}
for m in 1 2; do
  d=$RUN/mid$m; mkdir -p "$d/opt/runtime$m"
  cp -r "$WORK/rootfs/usr/share/perl5" "$d/opt/runtime$m/" 2>/dev/null || true
  cp -r "$WORK/rootfs/usr/share/common-licenses" "$d/opt/runtime$m/"
  printf 'aws_access_key_id = %s\n' "$(fake_key)" >"$d/opt/runtime$m/credentials"
  mk_layer "$d" "$RUN/mid$m.tar"
done
app_layer() { # i
  local d=$RUN/app$1; mkdir -p "$d/srv/app$1"
  head -c 20000 /dev/urandom | base64 >"$d/srv/app$1/data.txt"
  printf 'export AWS_ACCESS_KEY_ID=%s\n' "$(fake_key)" >"$d/srv/app$1/.env"
  mk_layer "$d" "$RUN/app$1.tar"
}

# --- the OCI layout: base, base+mid1, base+mid2, then N apps on them ------------------------
L=$RUN/layout
umoci init --layout "$L"
umoci new --image "$L:base"
echo "packing the base layer..." >&2
umoci raw add-layer --image "$L:base" --history.created_by 'debootstrap minbase' "$WORK/base.tar"
umoci raw add-layer --image "$L:base" --tag mid1 "$RUN/mid1.tar"
umoci raw add-layer --image "$L:base" --tag mid2 "$RUN/mid2.tar"
parents=(base mid1 mid2)
for i in $(seq 0 "$N"); do   # app$N is the "one new image" pushed later
  app_layer "$i"
  umoci raw add-layer --image "$L:${parents[$((i % 3))]}" --tag "app$i" "$RUN/app$i.tar"
done

# Single-layer images, one per unique layer (same blobs), for the baseline.
/usr/bin/python3 - "$L" "$N" <<'PY'
import hashlib, json, os, sys
layout, n = sys.argv[1], int(sys.argv[2])
def blob(d):
    return os.path.join(layout, "blobs", *d.split(":"))
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(blob(d), "wb").write(data)
    return {"digest": d, "size": len(data)}
index = json.load(open(os.path.join(layout, "index.json")))
tags = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
def manifest(tag):
    return json.load(open(blob(tags[tag]["digest"])))
def config(tag):
    return json.load(open(blob(manifest(tag)["config"]["digest"])))
seen, new = set(), []
for tag in ["base", "mid1", "mid2"] + [f"app{i}" for i in range(n + 1)]:
    m, c = manifest(tag), config(tag)
    for k, layer in enumerate(m["layers"]):
        if layer["digest"] in seen:
            continue
        seen.add(layer["digest"])
        cfg = {"architecture": "amd64", "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": [c["rootfs"]["diff_ids"][k]]}}
        cd = put(json.dumps(cfg).encode())
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cd},
               "layers": [layer]}
        md = put(json.dumps(man).encode())
        name = "only-new" if tag == f"app{n}" else f"only-{len(seen) - 1}"
        new.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **md,
                    "annotations": {"org.opencontainers.image.ref.name": name}})
index["manifests"] += new
json.dump(index, open(os.path.join(layout, "index.json"), "w"))
PY

# --- the registry -----------------------------------------------------------------------------
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$RUN/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $RUN/storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT, secret: bench-not-sensitive}
EOF
docker-registry serve "$RUN/registry.yml" >"$RUN/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.05; done
REG=127.0.0.1:$PORT
push() { skopeo copy -q --insecure-policy --dest-tls-verify=false "oci:$L:$1" "docker://$REG/$2" >/dev/null; }
echo "pushing $N images..." >&2
for i in $(seq 0 $((N - 1))); do push "app$i" "bench/app$i:v1"; done
UNIQUE=$((N + 3))
for k in $(seq 0 $((UNIQUE - 1))); do push "only-$k" "layers/only-$k:v1"; done
push only-new layers/only-new:v1

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
common=(--insecure-registry --format json --quiet)

# --- baseline: each unique layer scanned once ---------------------------------------------
refs=(); for k in $(seq 0 $((UNIQUE - 1))); do refs+=("$REG/layers/only-$k:v1"); done
t0=$(now); "$BIN" image "${refs[@]}" "${common[@]}" --report "$RUN/baseline.json" || true; t1=$(now)
BASELINE=$(elapsed "$t0" "$t1")
t0=$(now); "$BIN" image "$REG/layers/only-new:v1" "${common[@]}" --report /dev/null || true; t1=$(now)
NEW_LAYER=$(elapsed "$t0" "$t1")

# --- sweeps -------------------------------------------------------------------------------
sweep() { "$BIN" sweep "$REG" --repository 'bench/*' --cache "$RUN/cache.db" --concurrency "$CONC" "${common[@]}" --report "$1" || true; }
t0=$(now); sweep "$RUN/sweep1.json"; t1=$(now); FIRST=$(elapsed "$t0" "$t1")
t0=$(now); sweep "$RUN/sweep2.json"; t1=$(now); SECOND=$(elapsed "$t0" "$t1")
push "app$N" "bench/app$N:v1"
t0=$(now); sweep "$RUN/sweep3.json"; t1=$(now); THIRD=$(elapsed "$t0" "$t1")

count() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["findings"]), len(d["errors"]))' "$1"; }
read -r F1 E1 < <(count "$RUN/sweep1.json")
read -r F3 E3 < <(count "$RUN/sweep3.json")
read -r FB EB < <(count "$RUN/baseline.json")
RATIO=$(awk -v a="$FIRST" -v b="$BASELINE" 'BEGIN { printf "%.2f", a / b }')

echo
echo "leakhound sweep benchmark: $N images, $UNIQUE unique layers (base $(du -h "$WORK/base.tar" | cut -f1) tar), concurrency $CONC, $(nproc) cores"
printf '%-58s %8s s\n' "baseline: every unique layer scanned once (leakhound image)" "$BASELINE"
printf '%-58s %8s s   (%sx baseline; target <= 1.2x)\n' "first sweep, empty cache" "$FIRST" "$RATIO"
printf '%-58s %8s s   (target < 2 s)\n' "second sweep, nothing new" "$SECOND"
printf '%-58s %8s s   (its new layer alone: %s s)\n' "third sweep, one new image" "$THIRD" "$NEW_LAYER"
echo "findings: baseline $FB (errors $EB), first sweep $F1 (errors $E1), third sweep $F3 (errors $E3)"
