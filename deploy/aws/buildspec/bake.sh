#!/usr/bin/env bash
# Bake time after a production wave: poll REGION's alarms once a minute for ORBITASK_BAKE_MINUTES and fail (the
# pipeline stops before the next region) as soon as one is in ALARM, or is missing (a renamed alarm must not pass
# silently). docs/deploy-aws.md, "Pipeline", says what to do then.
# Env: ORBITASK_ALARMS (space-separated alarm names), ORBITASK_BAKE_MINUTES. Needs aws.
set -euo pipefail
region="${1:?usage: bake.sh REGION}"
read -ra alarms <<<"${ORBITASK_ALARMS:?ORBITASK_ALARMS is not set}"
minutes="${ORBITASK_BAKE_MINUTES:?ORBITASK_BAKE_MINUTES is not set}"
for minute in $(seq 0 "$minutes"); do
  states="$(aws cloudwatch describe-alarms --region "$region" --alarm-types MetricAlarm \
    --alarm-names "${alarms[@]}" --query 'MetricAlarms[].[AlarmName,StateValue]' --output text)"
  found="$(grep -c . <<<"$states" || true)"
  if [ "$found" -ne "${#alarms[@]}" ]; then
    echo "$region: found $found of the ${#alarms[@]} alarms ${alarms[*]}" >&2
    exit 1
  fi
  firing="$(awk '$2 == "ALARM" {print $1}' <<<"$states")"
  if [ -n "$firing" ]; then
    echo "$region is in ALARM after its deployment: $firing. The next regions are not deployed." >&2
    exit 1
  fi
  echo "$region: ${#alarms[@]} alarms not in ALARM, $minute of $minutes minutes baked"
  if [ "$minute" -lt "$minutes" ]; then
    sleep 60
  fi
done
