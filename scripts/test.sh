#!/usr/bin/env bash
# Runs every test: installs what the tests need when it is missing, then the whole suite.
# This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the integration tests drive for real (git is always needed; the image tests
# run a real distribution registry, push with skopeo, and make htpasswd files and TLS certs; the
# job image test builds a root file system with mmdebstrap and strips the binary; the --verify
# tests log in to real MariaDB, Redis and PostgreSQL servers, run as nobody through setpriv; the
# zip quine test reads its archive back with Info-ZIP's unzip; the HTML report tests open the
# report in headless Chromium through chromedriver).
need_debs=()
# python3 runs the labeled corpus generator and scorer (fixtures/corpus/).
for pair in git:git python3:python3 docker-registry:docker-registry skopeo:skopeo umoci:umoci htpasswd:apache2-utils openssl:openssl mmdebstrap:mmdebstrap strip:binutils mariadb-install-db:mariadb-server redis-server:redis-server setpriv:util-linux unzip:unzip chromium:chromium chromedriver:chromium-driver; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_debs+=("$pkg")
done
# Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/VERSION/bin.
command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_debs+=(postgresql)
# The report tests validate SARIF and GitLab output with Python's jsonschema (issue #7).
python3 -c 'import jsonschema' >/dev/null 2>&1 || need_debs+=(python3-jsonschema)
# The sweep tests read the CI/Kubernetes templates with python3-yaml.
python3 -c 'import yaml' 2>/dev/null || need_debs+=(python3-yaml)
if ((${#need_debs[@]})); then
  echo "installing ${need_debs[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

# The real pre-commit framework (PyPI) for the hook-definition tests: on PATH, or installed into
# a venv under target/ that tests/integration/pre_commit_framework.rs also looks in.
# A venv that no longer runs (its target/ was moved: venvs hold absolute paths) is made again.
if ! command -v pre-commit >/dev/null 2>&1 && ! target/pre-commit-venv/bin/pre-commit --version >/dev/null 2>&1; then
  rm -rf target/pre-commit-venv
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "installing pre-commit into target/pre-commit-venv" >&2
  python3 -m venv target/pre-commit-venv
  target/pre-commit-venv/bin/pip install -q pre-commit
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# No test writes into the user's git config.
export GIT_CONFIG_NOSYSTEM=1
# Doc tests first (nextest skips them), so the run ends on nextest's summary of the whole suite.
cargo test --doc
cargo nextest run --profile ci --all-targets
