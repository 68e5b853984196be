#!/usr/bin/env python3
"""Writes a one-layer linux/amd64 OCI image layout from a root file system tarball.

    oci-layout.py ROOTFS.tar LAYOUT_DIR TAG

The layer is the tarball gzip-compressed; the config runs a shell by default (CI jobs give their
own script) with PATH and the CA bundle set. Used by build-image.sh; no container engine needed.
"""

import gzip
import hashlib
import json
import os
import shutil
import sys


def blob(layout, data):
    """Stores `data` under blobs/sha256/ and returns its descriptor fields."""
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def main(rootfs, layout, tag):
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    diff_id = hashlib.sha256()
    with open(rootfs, "rb") as src:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            diff_id.update(chunk)
    staging = os.path.join(layout, "layer.tmp")
    # mtime=0: the same root file system gives the same layer digest.
    with open(rootfs, "rb") as src, open(staging, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
    with open(staging, "rb") as f:
        layer = blob(layout, f.read())
    os.remove(staging)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            ],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id.hexdigest()}"]},
        "history": [{"created_by": "scripts/build-image.sh (mmdebstrap bookworm + leakhound)"}],
    }
    config_desc = blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    manifest_desc = blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_desc,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
