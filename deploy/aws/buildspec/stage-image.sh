#!/usr/bin/env bash
# Copy image TAG from the production repository to the staging repository (same registry), unless it is there
# already (tags are immutable). Run by the pipeline's BuildImage step after push-image.sh.
# Env: ORBITASK_REPOSITORY, ORBITASK_STAGING_REPOSITORY (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME). Needs docker.
set -euo pipefail
tag="${1:?usage: stage-image.sh TAG}"
repo="${ORBITASK_REPOSITORY:?ORBITASK_REPOSITORY is not set}"
staging="${ORBITASK_STAGING_REPOSITORY:?ORBITASK_STAGING_REPOSITORY is not set}"
registry="${staging%%/*}"
region="$(cut -d. -f4 <<<"$registry")"
if aws ecr describe-images --region "$region" --repository-name "${staging#*/}" --image-ids imageTag="$tag" \
    >/dev/null 2>&1; then
  echo "${staging#*/}:$tag is already in ECR: nothing to copy"
  exit 0
fi
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
docker pull "$repo:$tag"
docker tag "$repo:$tag" "$staging:$tag"
docker push "$staging:$tag"
