#!/usr/bin/env bash
# The pipeline's synth step, from the repository root: install the deploy tooling at the repository's pins, run
# the deployment checks (tests/deploy), and synthesise the CDK app for commit TAG into deploy/aws/cdk.out.
# Python 3.11 and Node 20 come from the buildspec's runtime-versions. Nothing else is installed: the whole suite
# (browser, database servers) runs in CI before a commit reaches the branch the pipeline builds.
set -euo pipefail
tag="${1:?usage: synth.sh TAG}"
python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
node --version | grep -q '^v20\.' || { echo "expected Node 20, got $(node --version)" >&2; exit 1; }
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# pytest and the plugins tests/conftest.py loads, at the versions the dev extra pins; the rest of it is not needed
read -ra test_pins <<<"$(.venv/bin/python - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    dev = tomllib.load(f)["project"]["optional-dependencies"]["dev"]
print(" ".join(r for r in dev if r.split("==")[0] in {"pytest", "pytest-asyncio", "asgi-lifespan"}))
PY
)"
.venv/bin/python -m pip install --quiet -e '.[aws]' "${test_pins[@]}"
# tests/deploy/test_aws_db_user.py starts a MariaDB server: CI runs it, the pipeline installs no database server
.venv/bin/python -m pytest tests/deploy -q -p no:cacheprovider --ignore=tests/deploy/test_aws_db_user.py
cd deploy/aws
../../.venv/bin/python app.py --image-tag "$tag"
