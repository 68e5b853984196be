#!/usr/bin/env bash
# Builds leakhound's job image without a container engine: a Debian bookworm root file system
# (mmdebstrap, from Debian's archive) holding git, CA certificates, the leakhound binary and
# leakhound-ci, as an OCI image layout and a `docker save`-compatible archive, for linux/amd64.
#
#   scripts/build-image.sh [--out DIR] [--tag TAG] [--binary PATH] [--push REGISTRY/REPO:TAG]
#                          [--dest-tls-verify=false]
#
# Without --binary it builds the release binary. --push copies the image with skopeo (credentials
# from skopeo's usual places: `skopeo login`, REGISTRY_AUTH_FILE); TLS is verified unless
# --dest-tls-verify=false is given for a test registry on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/image
tag=latest
binary=
push=
tls_verify=true
while (($#)); do
  case $1 in
    --out) out=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --push) push=$2; shift 2 ;;
    --dest-tls-verify=false) tls_verify=false; shift ;;
    *) echo "build-image.sh: unknown argument $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "$binary" ]; then
  cargo build --release --locked
  binary=target/release/leakhound
fi
[ -x "$binary" ] || { echo "build-image.sh: $binary is not an executable" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Debug info is most of a release binary's weight; a job needs none of it.
cp "$binary" "$work/leakhound"
if command -v strip >/dev/null 2>&1; then strip "$work/leakhound"; fi
binary=$work/leakhound
# The root file system: Debian's essential set plus git and CA certificates, no docs, man pages
# or locales (they are most of the weight and a scanner job needs none).
mmdebstrap --quiet --variant=essential --include=git,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook="copy-in $binary /usr/local/bin" \
  --customize-hook="copy-in ci/leakhound-ci.sh /usr/local/bin" \
  --customize-hook='mv "$1/usr/local/bin/leakhound-ci.sh" "$1/usr/local/bin/leakhound-ci"' \
  --customize-hook='chmod 0755 "$1/usr/local/bin/leakhound" "$1/usr/local/bin/leakhound-ci"' \
  --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"' \
  bookworm "$work/rootfs.tar"

rm -rf "$out"
mkdir -p "$out"
python3 scripts/oci-layout.py "$work/rootfs.tar" "$out/oci" "$tag"
skopeo copy --quiet "oci:$out/oci:$tag" "docker-archive:$out/leakhound-image.tar:leakhound:$tag"
echo "image: $out/oci (OCI layout, tag $tag) and $out/leakhound-image.tar (docker load)" >&2
echo "weight: $(du -sh "$out/oci" | cut -f1) compressed ($(du -h "$work/rootfs.tar" | cut -f1) unpacked)" >&2

if [ -n "$push" ]; then
  skopeo copy --quiet --dest-tls-verify="$tls_verify" "oci:$out/oci:$tag" "docker://$push"
  echo "pushed $push" >&2
fi
