#!/usr/bin/env bash
# Runs every test: installs what the tests need when it is missing, then the whole suite.
# This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the integration tests drive for real (git is always needed; the image tests
# run a real distribution registry, push with skopeo, and make htpasswd files and TLS certs).
need_debs=()
for pair in git:git docker-registry:docker-registry skopeo:skopeo umoci:umoci htpasswd:apache2-utils openssl:openssl; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if ((${#need_debs[@]})); then
  echo "installing ${need_debs[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# No test writes into the user's git config.
export GIT_CONFIG_NOSYSTEM=1
cargo nextest run --profile ci --all-targets
cargo test --doc
