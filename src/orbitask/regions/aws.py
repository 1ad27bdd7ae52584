"""Failover on AWS: move the Aurora global database's writer to another region, then bump the topology epoch.

Planned (switchover): RDS SwitchoverGlobalCluster waits until the target has every transaction, nothing is
lost. Unplanned (failover): RDS FailoverGlobalCluster with AllowDataLoss promotes the target now, for when
the writer region is down. Either way the function waits, with a bound, until RDS reports the target as
the writer and the global cluster as available, and only then records the new writer in the topology row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

UpdateTopology = Callable[[str], Awaitable[int]]
Progress = Callable[[str, float], None]

DEFAULT_TIMEOUT_S = 1800.0  # a global switchover usually takes 1-5 minutes; unplanned failover about the same
FIRST_POLL_S = 5.0
MAX_POLL_S = 30.0
BACKOFF = 1.5


class AwsFailoverError(RuntimeError):
    """The failover could not be started or did not complete."""


@dataclass(frozen=True)
class AwsFailoverResult:
    """What happened: the new writer cluster, the epoch recorded in the topology row, how long it took."""

    target_region: str
    writer_cluster_arn: str
    previous_writer_arn: str | None
    planned: bool
    started: bool  # False when the target already was the writer: only the topology was updated
    epoch: int
    polls: int
    elapsed_s: float


def region_of(cluster_arn: str) -> str:
    """The region in an RDS cluster ARN (arn:aws:rds:REGION:ACCOUNT:cluster:ID)."""
    parts = cluster_arn.split(":")
    if len(parts) < 7 or parts[2] != "rds":
        raise AwsFailoverError(f"not an RDS cluster ARN: {cluster_arn!r}")
    return parts[3]


def rds_client(region: str) -> Any:
    """A boto3 RDS client for REGION (credentials from the usual AWS chain)."""
    import boto3

    return boto3.client("rds", region_name=region)


def describe_global_cluster(client: Any, global_cluster_id: str) -> dict[str, Any]:
    """The global cluster's description, or a clear error when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        found = client.describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)["GlobalClusters"]
    except ClientError as exc:
        raise AwsFailoverError(f"cannot describe global cluster {global_cluster_id!r}: {exc}") from exc
    if not found:
        raise AwsFailoverError(f"global cluster {global_cluster_id!r} not found")
    return found[0]


def writer_arn(cluster: dict[str, Any]) -> str | None:
    """The ARN of the member that is the writer, if any."""
    return next((m["DBClusterArn"] for m in cluster.get("GlobalClusterMembers", []) if m.get("IsWriter")), None)


def member_in(cluster: dict[str, Any], region: str) -> str:
    """The ARN of the member cluster in REGION."""
    members = [m["DBClusterArn"] for m in cluster.get("GlobalClusterMembers", [])]
    for arn in members:
        if region_of(arn) == region:
            return arn
    names = ", ".join(sorted(region_of(arn) for arn in members)) or "none"
    raise AwsFailoverError(
        f"region {region!r} has no cluster in global cluster {cluster.get('GlobalClusterIdentifier')!r}; "
        f"member regions: {names}"
    )


def settled_on(cluster: dict[str, Any], target_arn: str) -> bool:
    """True when TARGET is the writer, the cluster is available and no switchover/failover is pending."""
    state = cluster.get("FailoverState") or {}
    return writer_arn(cluster) == target_arn and cluster.get("Status") == "available" and not state.get("Status")


async def aws_failover(
    global_cluster_id: str,
    target_region: str,
    planned: bool,
    update_topology: UpdateTopology,
    client: Any = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    progress: Progress | None = None,
) -> AwsFailoverResult:
    """Make TARGET_REGION's cluster the writer of the global database, wait for it, then update the topology.

    The RDS client defaults to one in the target region: in an unplanned failover the old writer's region
    may not answer at all. `update_topology(region)` records the new writer and returns the new epoch.
    """
    client = client if client is not None else rds_client(target_region)
    started_at = clock()
    cluster = await asyncio.to_thread(describe_global_cluster, client, global_cluster_id)
    target = member_in(cluster, target_region)
    previous = writer_arn(cluster)
    started = not settled_on(cluster, target)
    if started:
        if (cluster.get("FailoverState") or {}).get("Status"):
            raise AwsFailoverError(
                f"global cluster {global_cluster_id!r} already has a {cluster['FailoverState']['Status']} "
                "operation in progress; wait for it, then retry"
            )
        await asyncio.to_thread(_start, client, global_cluster_id, target, planned)
    polls, delay = 0, FIRST_POLL_S
    while not settled_on(cluster, target):
        elapsed = clock() - started_at
        if elapsed >= timeout_s:
            raise AwsFailoverError(
                f"{'switchover' if planned else 'failover'} to {target_region} did not complete within "
                f"{timeout_s:.0f} s (status {cluster.get('Status')!r}, writer {writer_arn(cluster)!r}); "
                "the topology was not changed"
            )
        await sleep(min(delay, max(timeout_s - elapsed, 0.0)))
        delay = min(delay * BACKOFF, MAX_POLL_S)
        cluster = await asyncio.to_thread(describe_global_cluster, client, global_cluster_id)
        polls += 1
        if progress is not None:
            progress(_describe_state(cluster), clock() - started_at)
    epoch = await update_topology(target_region)
    return AwsFailoverResult(
        target_region=target_region, writer_cluster_arn=target, previous_writer_arn=previous, planned=planned,
        started=started, epoch=epoch, polls=polls, elapsed_s=clock() - started_at,
    )


def _start(client: Any, global_cluster_id: str, target_arn: str, planned: bool) -> None:
    from botocore.exceptions import ClientError

    try:
        if planned:
            client.switchover_global_cluster(
                GlobalClusterIdentifier=global_cluster_id, TargetDbClusterIdentifier=target_arn
            )
        else:
            client.failover_global_cluster(
                GlobalClusterIdentifier=global_cluster_id, TargetDbClusterIdentifier=target_arn, AllowDataLoss=True
            )
    except ClientError as exc:
        what = "switchover" if planned else "failover"
        raise AwsFailoverError(f"RDS refused the {what} of {global_cluster_id!r} to {target_arn}: {exc}") from exc


def _describe_state(cluster: dict[str, Any]) -> str:
    state = (cluster.get("FailoverState") or {}).get("Status")
    writer = writer_arn(cluster)
    return f"{cluster.get('Status')}{f' ({state})' if state else ''}, writer {region_of(writer) if writer else '-'}"
