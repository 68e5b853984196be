#!/usr/bin/env bash
# Benchmark of `leakhound image` on a realistic image: a Debian bookworm `debootstrap
# --variant=minbase` root file system packed as one layer (~170 MB as tar, ~60 MB gzip) plus a
# small app layer with planted fake secrets.
#
# Prints wall time (best of $RUNS) and peak RSS of:
#   - `gzip -dc LAYER | tar -t >/dev/null` on the base layer   (leakhound's target: <= 1.5x)
#   - leakhound on the OCI layout (gzip layers)
#   - leakhound and Kingfisher on the same `docker save` archive (target: leakhound faster)
#   - leakhound on that archive gzipped, and pulling the image from a local docker-registry
#
# Needs root (debootstrap) and Debian's package mirror the first time; the root file system and
# the images are cached under $CACHE (default /tmp/leakhound-image-bench).
#
#   benches/image.sh            # everything
#   RUNS=5 KF_RUNS=3 benches/image.sh
#   LEAKHOUND=target/release/leakhound SKIP_KINGFISHER=1 benches/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CACHE:-/tmp/leakhound-image-bench}
RUNS=${RUNS:-3}
mkdir -p "$CACHE"

need=()
for pair in debootstrap:debootstrap umoci:umoci skopeo:skopeo; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

ROOTFS=$CACHE/rootfs
if [ ! -f "$ROOTFS/etc/debian_version" ] || [ ! -f "$CACHE/rootfs.done" ]; then
  echo "debootstrap --variant=minbase bookworm (about 30-60 s)..." >&2
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" >"$CACHE/debootstrap.log" 2>&1
  touch "$CACHE/rootfs.done"
fi

TARF=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@1704067200 --format=gnu)
if [ ! -f "$CACHE/oci/index.json" ]; then
  echo "packing the layers..." >&2
  tar "${TARF[@]}" -C "$ROOTFS" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./var/cache/apt/archives/*.deb' -cf "$CACHE/base.tar" .
  # Fake secrets, made at run time so this file holds none.
  b32() { tr -dc 'A-Z2-7' </dev/urandom | head -c "$1"; }
  alnum() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"; }
  rm -rf "$CACHE/app" && mkdir -p "$CACHE/app/srv/app" "$CACHE/app/root"
  printf 'aws_access_key_id = AKIA%s\n' "$(b32 16)" >"$CACHE/app/srv/app/settings.ini"
  printf 'token: xoxb-%s-%s-%s\n' "$(tr -dc 0-9 </dev/urandom | head -c 12)" \
    "$(tr -dc 0-9 </dev/urandom | head -c 13)" "$(alnum 24)" >"$CACHE/app/srv/app/slack.yml"
  printf 'export PGPASSWORD=%s\n' "$(alnum 20)" >"$CACHE/app/root/.profile"
  (cd "$CACHE/app" && tar "${TARF[@]}" -cf ../app.tar srv root)
  rm -rf "$CACHE/oci"
  umoci init --layout "$CACHE/oci"
  umoci new --image "$CACHE/oci:bench"
  umoci config --image "$CACHE/oci:bench" --architecture amd64 --os linux \
    --config.env 'PATH=/usr/local/bin:/usr/bin:/bin'
  umoci raw add-layer --image "$CACHE/oci:bench" "$CACHE/base.tar"
  umoci raw add-layer --image "$CACHE/oci:bench" "$CACHE/app.tar"
  umoci gc --layout "$CACHE/oci"
  rm -f "$CACHE/save.tar"
fi
if [ ! -f "$CACHE/save.tar" ]; then
  skopeo --insecure-policy copy --quiet "oci:$CACHE/oci:bench" \
    "docker-archive:$CACHE/save.tar:127.0.0.1:5000/bench/image:v1"
fi
# The base layer: the biggest blob in the layout.
LAYER=$(ls -S "$CACHE"/oci/blobs/sha256/* | head -1)

if [ ! -x "$CACHE/kf-venv/bin/kingfisher" ]; then
  python3 -m venv "$CACHE/kf-venv"
  "$CACHE/kf-venv/bin/pip" install -q kingfisher-bin
fi
KF=$CACHE/kf-venv/bin/kingfisher

# LEAKHOUND=path/to/binary skips the build.
if [ -z "${LEAKHOUND:-}" ]; then
  cargo build --release --quiet
fi
LH=${LEAKHOUND:-$PWD/target/release/leakhound}

# best wall seconds and the peak RSS (MB) of that run, over $RUNS runs of "$@"
measure() {
  local best="" rss=""
  for _ in $(seq "${RUNS_NOW:-$RUNS}"); do
    /usr/bin/time -f '%e %M' -o "$CACHE/time.out" "$@" >/dev/null 2>"$CACHE/stderr.out" || true
    # GNU time prefixes "Command exited with non-zero status N" when the exit code is not 0.
    read -r wall kb < <(tail -1 "$CACHE/time.out")
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall rss=$((kb / 1024)); fi
  done
  echo "$best $rss"
}

echo "layer: $(du -m "$LAYER" | cut -f1) MB gzip, $(du -m "$CACHE/base.tar" | cut -f1) MB tar, \
$(tar -tf "$CACHE/base.tar" | wc -l) entries; save.tar: $(du -m "$CACHE/save.tar" | cut -f1) MB; \
$(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
read -r gz gz_rss < <(measure bash -c "gzip -dc '$LAYER' | tar -t >/dev/null")
read -r lh lh_rss < <(measure "$LH" image "oci:$CACHE/oci:bench" --format json)
read -r lhd lhd_rss < <(measure "$LH" image "docker-archive:$CACHE/save.tar" --format json)
# The same archive gzipped (`docker save | gzip`): streamed, inflated once to index it and again
# up to each big layer.
[ -f "$CACHE/save.tar.gz" ] || gzip -1 -c "$CACHE/save.tar" >"$CACHE/save.tar.gz"
read -r lhz lhz_rss < <(measure "$LH" image "docker-archive:$CACHE/save.tar.gz" --format json)
# A pull from a real local registry (plain HTTP, loopback), unless SKIP_REGISTRY is set.
lhr=- lhr_rss=-
if [ -z "${SKIP_REGISTRY:-}" ] && command -v docker-registry >/dev/null; then
  REG=$(mktemp -d)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n  secret: bench-not-secret\n' \
    "$REG/storage" "$PORT" >"$REG/config.yml"
  docker-registry serve "$REG/config.yml" >"$REG/log" 2>&1 &
  REG_PID=$!
  until curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/"; do sleep 0.05; done
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$CACHE/oci:bench" \
    "docker://127.0.0.1:$PORT/bench/image:v1"
  read -r lhr lhr_rss < <(measure "$LH" image "127.0.0.1:$PORT/bench/image:v1" --insecure-registry --format json)
  kill "$REG_PID"
  wait "$REG_PID" 2>/dev/null || true
  rm -rf "$REG"
fi
KF_CMD=("$KF")
[ -n "${SKIP_KINGFISHER:-}" ] && KF_CMD=(true)
# Kingfisher takes minutes here: KF_RUNS runs (default 1).
read -r kf kf_rss < <(RUNS_NOW=${KF_RUNS:-1} measure "${KF_CMD[@]}" scan docker --archive "$CACHE/save.tar" --no-validate \
  --format json --no-update-check)
# leakhound exits 1 when it finds something: keep pipefail from ending the script.
findings=$({ "$LH" image "docker-archive:$CACHE/save.tar" --format json 2>/dev/null || true; } |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))')
printf '%-48s %8s %9s\n' command "wall s" "peak MB"
printf '%-48s %8s %9s\n' "gzip -dc LAYER | tar -t" "$gz" "$gz_rss"
printf '%-48s %8s %9s   (%.2fx gzip|tar)\n' "leakhound image oci:DIR (gzip layers)" "$lh" "$lh_rss" \
  "$(awk "BEGIN{print $lh / $gz}")"
printf '%-48s %8s %9s\n' "leakhound image docker-archive:save.tar" "$lhd" "$lhd_rss"
printf '%-48s %8s %9s\n' "leakhound image docker-archive:save.tar.gz" "$lhz" "$lhz_rss"
printf '%-48s %8s %9s\n' "leakhound image REGISTRY/bench/image:v1 (pull)" "$lhr" "$lhr_rss"
printf '%-48s %8s %9s   (leakhound %.2fx faster)\n' "kingfisher scan docker --archive save.tar" "$kf" \
  "$kf_rss" "$(awk "BEGIN{print $kf / $lhd}")"
echo "leakhound findings on the archive: $findings (3 planted)"
