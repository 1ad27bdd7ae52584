#!/usr/bin/env bash
# Run `orbitask db upgrade` with image TAG as a one-off ECS task in the region that holds the writer now
# (it moves with failovers), and fail when it fails. Idempotent: a database already at head is left alone.
# Env: ORBITASK_NAME, ORBITASK_GLOBAL_CLUSTER, ORBITASK_REGIONS (space-separated). Needs aws and jq.
set -euo pipefail
tag="${1:?usage: migrate.sh TAG}"
name="${ORBITASK_NAME:?ORBITASK_NAME is not set}"
global="${ORBITASK_GLOBAL_CLUSTER:?ORBITASK_GLOBAL_CLUSTER is not set}"

writer_arn=""
for region in ${ORBITASK_REGIONS:?ORBITASK_REGIONS is not set}; do
  if writer_arn="$(aws rds describe-global-clusters --region "$region" --global-cluster-identifier "$global" \
      --query 'GlobalClusters[0].GlobalClusterMembers[?IsWriter].DBClusterArn | [0]' --output text 2>/dev/null)"; then
    break
  fi
done
if [ -z "$writer_arn" ] || [ "$writer_arn" = None ]; then
  echo "global cluster $global does not exist yet (first deployment): nothing to migrate"
  exit 0
fi
region="$(cut -d: -f4 <<<"$writer_arn")"
if ! params="$(aws ssm get-parameter --region "$region" --name "/$name/migrate" --query Parameter.Value \
    --output text 2>/dev/null)"; then
  echo "no migration task in $region yet (first deployment): the run after the deployment applies them"
  exit 0
fi
cluster="$(jq -r .cluster <<<"$params")"
family="$(jq -r .family <<<"$params")"
subnets="$(jq -r '.subnets | join(",")' <<<"$params")"
security_group="$(jq -r .security_group <<<"$params")"

# a revision of the migration task that runs the new image
current="$(aws ecs describe-task-definition --region "$region" --task-definition "$family" \
  --query taskDefinition --output json)"
image="$(jq -r '.containerDefinitions[] | select(.name == "app") | .image' <<<"$current")"
new_image="${image%:*}:$tag"
revision="$(jq --arg image "$new_image" '{family, taskRoleArn, executionRoleArn, networkMode,
  requiresCompatibilities, cpu, memory, runtimePlatform, volumes,
  containerDefinitions: [.containerDefinitions[] | if .name == "app" then .image = $image else . end]}' <<<"$current")"
task_definition="$(aws ecs register-task-definition --region "$region" --cli-input-json "$revision" \
  --query taskDefinition.taskDefinitionArn --output text)"
task="$(aws ecs run-task --region "$region" --cluster "$cluster" --launch-type FARGATE \
  --task-definition "$task_definition" \
  --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$security_group],assignPublicIp=DISABLED}" \
  --query 'tasks[0].taskArn' --output text)"
echo "orbitask db upgrade in $region with $new_image: $task"
aws ecs wait tasks-stopped --region "$region" --cluster "$cluster" --tasks "$task"  # polls, up to 10 minutes
code="$(aws ecs describe-tasks --region "$region" --cluster "$cluster" --tasks "$task" \
  --query "tasks[0].containers[?name=='app'].exitCode | [0]" --output text)"
if [ "$code" != 0 ]; then
  echo "orbitask db upgrade exited with $code: read the $family log group in $region" >&2
  exit 1
fi
echo "the database is up to date"
