#!/usr/bin/env bash
# Build the Orbitask image for TAG, push it to ECR in the primary region, and wait (bounded) until ECR has
# replicated it to every region. Run by the pipeline's BuildImage step from the repository root.
# Env: ORBITASK_REPOSITORY (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME), ORBITASK_REGIONS (space-separated).
set -euo pipefail
tag="${1:?usage: push-image.sh TAG}"
repo="${ORBITASK_REPOSITORY:?ORBITASK_REPOSITORY is not set}"
registry="${repo%%/*}"
name="${repo#*/}"
primary_region="$(cut -d. -f4 <<<"$registry")"

has_image() {  # has_image REGION: is NAME:TAG in that region's repository?
  aws ecr describe-images --region "$1" --repository-name "$name" --image-ids imageTag="$tag" >/dev/null 2>&1
}

aws ecr get-login-password --region "$primary_region" | docker login --username AWS --password-stdin "$registry"
if has_image "$primary_region"; then
  echo "$name:$tag is already in ECR (tags are immutable): not rebuilding"
else
  docker build -f deploy/docker/Dockerfile -t "$repo:$tag" .
  docker push "$repo:$tag"
fi
for region in ${ORBITASK_REGIONS:?ORBITASK_REGIONS is not set}; do
  for _ in $(seq 1 60); do
    if has_image "$region"; then
      echo "$region has $name:$tag"
      continue 2
    fi
    sleep 10
  done
  echo "ECR did not replicate $name:$tag to $region within 10 minutes" >&2
  exit 1
done
