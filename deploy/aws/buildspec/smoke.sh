#!/usr/bin/env bash
# The staging stage's smoke test: its region is ready (/readyz: the local reader, and the writer) and the API
# answers (/api/v1/healthz). curl retries a bounded number of times while new tasks register with the load balancer.
# Env: ORBITASK_URL (https://<region>.<staging api domain>), ORBITASK_SMOKE_RETRIES (default 20, 15 s apart).
set -euo pipefail
url="${ORBITASK_URL:?ORBITASK_URL is not set}"
retries="${ORBITASK_SMOKE_RETRIES:-20}"
for path in /readyz /api/v1/healthz; do
  curl --fail --silent --show-error --max-time 10 --retry "$retries" --retry-delay 15 --retry-all-errors \
    "$url$path"
  echo " <- $url$path"
done
