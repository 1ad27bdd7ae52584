#!/usr/bin/env bash
# Build the web app (web/) and publish it to the CloudFront bucket of the global stack; index.html is never
# cached, hashed assets are cached for a year. Nothing to do when the repository has no web app.
# Env: ORBITASK_GLOBAL_STACK (the global stack's name). Needs aws, node and npm.
set -euo pipefail
stack="${ORBITASK_GLOBAL_STACK:?ORBITASK_GLOBAL_STACK is not set}"
if [ ! -f web/package.json ]; then
  echo "no web app in this repository: nothing to publish"
  exit 0
fi
(cd web && npm ci --no-audit --no-fund && npm run build)
output() {
  aws cloudformation describe-stacks --region us-east-1 --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text
}
bucket="$(output WebBucket)"
distribution="$(output DistributionId)"
aws s3 sync web/dist "s3://$bucket" --delete --exclude index.html --cache-control "public,max-age=31536000,immutable"
aws s3 cp web/dist/index.html "s3://$bucket/index.html" --cache-control "no-cache"
aws cloudfront create-invalidation --distribution-id "$distribution" --paths /index.html
