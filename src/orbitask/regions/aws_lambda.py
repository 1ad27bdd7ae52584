"""The failover Lambda (the app image run by awslambdaric): the same `aws_failover` as `orbitask failover --aws`.

It is invoked three ways (deploy/aws/orbitask_cdk/ops.py wires them):
- an EventBridge RDS global-cluster event (a switchover or failover finished, whoever started it): the Lambda
  in the region that now holds the writer records it in the topology row;
- an SNS message from the region health alarm: when the writer region is down, auto failover is on and this
  Lambda's region is the next in the failover order, it runs an unplanned failover to itself;
- a direct invocation `{"action": "failover", "target_region": "...", "planned": true}` from an operator.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from orbitask.regions.aws import UpdateTopology, aws_failover, describe_global_cluster, region_of, writer_arn

log = structlog.get_logger("orbitask.failover_lambda")
ALARM_PREFIX_SUFFIX = "-region-down-"  # alarm names are <name>-region-down-<region> (deploy/aws/orbitask_cdk/edge.py)


@dataclass(frozen=True)
class LambdaSettings:
    """What the Lambda reads from its environment."""

    region: str
    global_cluster_id: str
    failover_order: tuple[str, ...]
    auto_failover: bool

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LambdaSettings:
        """Read ORBITASK_REGION, ORBITASK_GLOBAL_CLUSTER, ORBITASK_FAILOVER_ORDER, ORBITASK_AUTO_FAILOVER."""
        env = dict(os.environ if env is None else env)
        return cls(
            region=env["ORBITASK_REGION"], global_cluster_id=env["ORBITASK_GLOBAL_CLUSTER"],
            failover_order=tuple(r for r in env.get("ORBITASK_FAILOVER_ORDER", "").split(",") if r),
            auto_failover=env.get("ORBITASK_AUTO_FAILOVER", "false").lower() in {"1", "true", "yes", "on"},
        )


async def handle(event: dict[str, Any], *, settings: LambdaSettings, client: Any,
                 update_topology: UpdateTopology,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> dict[str, Any]:
    """Act on one event; returns what was done (logged by Lambda, shown to an operator who invoked it)."""
    if event.get("action") == "failover":
        target = event.get("target_region") or settings.region
        result = await aws_failover(settings.global_cluster_id, target, bool(event.get("planned", True)),
                                    update_topology, client, sleep=sleep)
        return {"done": "failover", "writer": target, "epoch": result.epoch, "started": result.started}
    if event.get("source") == "aws.rds":
        cluster = await asyncio.to_thread(describe_global_cluster, client, settings.global_cluster_id)
        writer = writer_arn(cluster)
        if writer is None or region_of(writer) != settings.region:
            return {"done": "nothing", "why": "the writer is in another region; its Lambda records it"}
        if cluster.get("Status") != "available":
            return {"done": "nothing", "why": f"global cluster is {cluster.get('Status')}; a later event follows"}
        return {"done": "topology", "writer": settings.region, "epoch": await update_topology(settings.region)}
    for record in event.get("Records", []):
        alarm = json.loads(record.get("Sns", {}).get("Message") or "{}")
        name = alarm.get("AlarmName", "")
        if alarm.get("NewStateValue") != "ALARM" or ALARM_PREFIX_SUFFIX not in name:
            continue
        down = name.rsplit(ALARM_PREFIX_SUFFIX, 1)[1]
        cluster = await asyncio.to_thread(describe_global_cluster, client, settings.global_cluster_id)
        writer = writer_arn(cluster)
        writer_region = region_of(writer) if writer else None
        if down != writer_region:
            return {"done": "nothing", "why": f"{down} is not the writer region; latency routing skips it"}
        target = next((r for r in settings.failover_order if r != writer_region), None)
        if target != settings.region:
            return {"done": "nothing", "why": f"{target} is next in the failover order"}
        if not settings.auto_failover:
            log.warning("auto_failover_off", writer_region=writer_region, target=target)
            return {"done": "nothing", "why": "auto failover is off: run `orbitask failover --aws` to promote"}
        result = await aws_failover(settings.global_cluster_id, target, False, update_topology, client, sleep=sleep)
        return {"done": "failover", "writer": target, "epoch": result.epoch, "started": result.started}
    return {"done": "nothing", "why": "not an event this Lambda acts on"}


def load_secrets(env: dict[str, str] | None = None, fetch: Callable[[str], str] | None = None) -> None:
    """Set the env vars named in ORBITASK_SECRETS_FROM ({"VAR": "secret-arn[:json-field]"}) from Secrets Manager."""
    target = os.environ if env is None else env
    refs = json.loads(target.get("ORBITASK_SECRETS_FROM") or "{}")
    if fetch is None:
        import boto3

        sm = boto3.client("secretsmanager")

        def fetch(secret_id: str) -> str:
            return sm.get_secret_value(SecretId=secret_id)["SecretString"]

    for var, ref in refs.items():
        arn, field = _split_ref(ref)
        value = fetch(arn)
        target[var] = json.loads(value)[field] if field else value


def _split_ref(ref: str) -> tuple[str, str]:
    """arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:FIELD] -> (the secret's ARN, FIELD or "")."""
    parts = ref.split(":")
    return ":".join(parts[:7]), ":".join(parts[7:])


async def _topology_in_this_region(region: str) -> int:
    from orbitask.config import Settings
    from orbitask.core.db import Database
    from orbitask.regions.topology import set_writer  # the topology row: src/orbitask/regions/topology.py

    settings = Settings()
    db = Database(settings.writer_url, connect_timeout=settings.database_connect_timeout_seconds)
    try:
        return await set_writer(db, region)
    finally:
        await db.dispose()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point."""
    load_secrets()
    settings = LambdaSettings.from_env()
    from orbitask.regions.aws import rds_client

    outcome = asyncio.run(handle(event, settings=settings, client=rds_client(settings.region),
                                 update_topology=_topology_in_this_region))
    log.info("failover_lambda", **outcome)
    return outcome
