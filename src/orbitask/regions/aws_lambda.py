"""The failover Lambda (the app image run by awslambdaric), one in every region: watcher and failover runner.

It is invoked three ways (deploy/aws/orbitask_cdk/ops.py wires them):
- `{"action": "watch"}` every minute from an EventBridge schedule in its own region: the watcher's tick
  (regions/aws_watch.py): vote on the writer region's health, and fail over when a quorum of regions agrees;
- an EventBridge RDS global-cluster event (a switchover or failover finished, whoever started it): the Lambda
  in the region that now holds the writer records it in the topology row;
- a direct invocation `{"action": "failover", "target_region": "...", "planned": true}` from an operator,
  run under the watchers' lock.
Every wait is bounded below the Lambda's timeout (aws_watch.RUN_BOUND_S < LAMBDA_TIMEOUT_S).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from orbitask.regions import aws_watch
from orbitask.regions.aws import UpdateTopology, describe_global_cluster, region_of, writer_arn
from orbitask.regions.aws_watch import AwsClients, WatchSettings

log = structlog.get_logger("orbitask.failover_lambda")
LambdaSettings = WatchSettings  # what the Lambda reads from its environment


async def handle(event: dict[str, Any], *, settings: WatchSettings, aws: AwsClients,
                 update_topology: UpdateTopology, probe: aws_watch.Probe = aws_watch.probe_ready,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> dict[str, Any]:
    """Act on one event; returns what was done (logged by Lambda, shown to an operator who invoked it)."""
    if event.get("action") == "watch":
        return await aws_watch.tick(settings, aws, update_topology, probe=probe, sleep=sleep)
    if event.get("action") == "failover":
        return await aws_watch.switchover(settings, aws, update_topology, sleep=sleep,
                                          target=event.get("target_region") or settings.region,
                                          planned=bool(event.get("planned", True)))
    if event.get("source") == "aws.rds":
        cluster = await asyncio.to_thread(describe_global_cluster, aws.rds, settings.global_cluster_id)
        writer = writer_arn(cluster)
        if writer is None or region_of(writer) != settings.region:
            return {"done": "nothing", "why": "the writer is in another region; its Lambda records it"}
        if cluster.get("Status") != "available":
            return {"done": "nothing", "why": f"global cluster is {cluster.get('Status')}; a later event follows"}
        return {"done": "topology", "writer": settings.region, "epoch": await update_topology(settings.region)}
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
    settings = WatchSettings.from_env()
    import boto3

    aws = AwsClients(rds=boto3.client("rds", region_name=settings.region),
                     dynamodb=boto3.client("dynamodb", region_name=settings.region),
                     route53=boto3.client("route53", region_name=settings.region))
    outcome = asyncio.run(handle(event, settings=settings, aws=aws, update_topology=_topology_in_this_region))
    log.info("failover_lambda", **outcome)
    return outcome
