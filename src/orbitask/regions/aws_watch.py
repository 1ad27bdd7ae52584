"""Failover control in every region: watchers vote on the writer region's health, a quorum fails over.

Each region's failover Lambda runs `tick` once a minute (an EventBridge schedule in that region):
1. it reads which region writes now from the Aurora global cluster (never a fixed region, so after a
   failover every watcher watches the new writer), and what is in the failover table (a DynamoDB global
   table with a replica in every region: votes, the control item, DNS moves);
2. it judges the writer region: its own probe of the writer's /readyz, and the Route 53 health check
   as the checkers see it (the Route 53 API may be down with us-east-1: then the probe decides alone);
3. it writes its vote (region, writer, writer healthy?, how many ticks in a row unhealthy, its own
   readiness, time);
4. an unplanned failover starts only when a majority of all regions has fresh votes saying the writer
   has been unhealthy for UNHEALTHY_TICKS ticks in a row (the writer region's own fresh vote counts as
   healthy), and only in the first region of the failover order whose watcher is alive. The run takes
   the lock: a conditional write on the control item's epoch (the topology epoch of the last run).

The run's steps are idempotent and recorded in the control item, so a run cut short (a Lambda timeout)
is resumed by a later tick once its lease ran out: RDS (global failover or switchover, bounded by
RDS_WAIT_S), the topology row (the epoch bump fences the old writer's API nodes: they forward writes),
then traffic: the old writer's latency record answers with the new writer until the old region is back as a
ready secondary (the new writer's watcher then restores it); with Global Accelerator instead of latency records
(ORBITASK_ACCELERATOR_LISTENER), the old writer's endpoint group is dialled to 0% and back to 100% the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog

from orbitask.regions.aws import UpdateTopology, aws_failover, describe_global_cluster, region_of, writer_arn

log = structlog.get_logger("orbitask.failover_watch")

Probe = Callable[[str], Awaitable[bool]]
Sleep = Callable[[float], Awaitable[None]]

UNHEALTHY_TICKS = 3  # minutes in a row a watcher sees the writer unhealthy before its vote counts
VOTE_FRESH_S = 180.0  # an older vote is from a watcher that is gone
LAMBDA_TIMEOUT_S = 900  # the Lambda's own limit (deploy/aws/orbitask_cdk/ops.py sets it)
RDS_WAIT_S = 600.0  # the run's wait for RDS: with the other steps it stays below LAMBDA_TIMEOUT_S
RUN_BOUND_S = RDS_WAIT_S + 120.0  # RDS plus the table, topology and Route 53 steps, each a few seconds
LEASE_S = float(LAMBDA_TIMEOUT_S)  # a lease set inside an invocation outlives it: then the run is dead
PROBE_TIMEOUT_S = 5.0
ACCELERATOR_API_REGION = "us-west-2"  # Global Accelerator's API answers only there, whatever the accelerator serves
CONTROL = "control"
STEPS = ("rds", "dns")  # the topology bump is the last thing the rds step does (aws_failover)


@dataclass(frozen=True)
class WatchSettings:
    """What a region's watcher knows: itself, the regions in failover order and their URLs, the AWS names."""

    region: str
    global_cluster_id: str
    failover_order: tuple[str, ...]
    auto_failover: bool
    table: str = ""
    hosted_zone_id: str = ""
    api_domain: str = ""
    urls: dict[str, str] = field(default_factory=dict)  # region -> https://<region>.<api_domain>
    accelerator_listener: str = ""  # the accelerator's listener ARN when traffic goes through Global Accelerator

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WatchSettings:
        """Read ORBITASK_REGION, _GLOBAL_CLUSTER, _FAILOVER_ORDER, _AUTO_FAILOVER, _FAILOVER_TABLE, _HOSTED_ZONE_ID,
        _API_DOMAIN, _REGIONS and _ACCELERATOR_LISTENER."""
        env = dict(os.environ if env is None else env)
        regions = json.loads(env.get("ORBITASK_REGIONS") or "[]")
        return cls(
            region=env["ORBITASK_REGION"], global_cluster_id=env["ORBITASK_GLOBAL_CLUSTER"],
            failover_order=tuple(r for r in env.get("ORBITASK_FAILOVER_ORDER", "").split(",") if r),
            auto_failover=env.get("ORBITASK_AUTO_FAILOVER", "false").lower() in {"1", "true", "yes", "on"},
            table=env.get("ORBITASK_FAILOVER_TABLE", ""), hosted_zone_id=env.get("ORBITASK_HOSTED_ZONE_ID", ""),
            api_domain=env.get("ORBITASK_API_DOMAIN", ""), urls={r["name"]: r["public_url"] for r in regions},
            accelerator_listener=env.get("ORBITASK_ACCELERATOR_LISTENER", ""),
        )

    def fqdn(self, region: str) -> str:
        """The name REGION's load balancer answers at (its health check's domain)."""
        return urlsplit(self.urls[region]).hostname or ""

    @property
    def majority(self) -> int:
        """Votes needed for an unplanned failover: more than half of all regions, the writer's included."""
        return len(self.failover_order) // 2 + 1


@dataclass(frozen=True)
class AwsClients:
    """The watcher's clients, all in its own region (Route 53's API is global); Global Accelerator's is made in
    ACCELERATOR_API_REGION when the settings name a listener and none is given."""

    rds: Any
    dynamodb: Any
    route53: Any
    globalaccelerator: Any = None


@dataclass(frozen=True)
class Vote:
    """One region's latest view of the writer region."""

    region: str
    writer: str
    healthy: bool
    streak: int  # ticks in a row it saw the writer unhealthy
    ready: bool  # its own /readyz: a returning old writer is fenced once it is ready as a secondary
    at: float


@dataclass(frozen=True)
class Run:
    """A failover in progress, as recorded in the control item."""

    owner: str
    target: str
    source: str  # the writer it replaces
    planned: bool
    step: str
    token: str
    lease_until: float
    topology_epoch: int = 0


@dataclass(frozen=True)
class TableView:
    """Everything in the failover table."""

    votes: dict[str, Vote]
    epoch: int  # the topology epoch the last run recorded (0 before any)
    run: Run | None
    dns_moved: dict[str, str]  # old writer region -> the region its latency record now answers with


class FailoverTable:
    """The DynamoDB global table: one scan reads it all; the control item is changed by conditional writes."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name

    def read(self) -> TableView:
        """The whole (small) table, strongly consistent in this region."""
        items = self.client.scan(TableName=self.name, ConsistentRead=True).get("Items", [])
        votes, dns, control = {}, {}, {}
        for item in (_plain(i) for i in items):
            kind, _, name = item["pk"].partition("#")
            if kind == "vote":
                votes[name] = Vote(region=name, writer=item["writer"], healthy=item["healthy"],
                                   streak=int(item["streak"]), ready=item["ready"], at=float(item["at"]))
            elif kind == "dns":
                dns[name] = item["target"]
            elif kind == CONTROL:
                control = item
        raw = control.get("run")
        run = Run(**{**raw, "lease_until": float(raw["lease_until"]), "topology_epoch": int(raw["topology_epoch"])}) \
            if raw else None
        return TableView(votes=votes, epoch=int(control.get("epoch", 0)), run=run, dns_moved=dns)

    def put_vote(self, vote: Vote) -> None:
        """Replace this region's vote."""
        self.client.put_item(TableName=self.name, Item={
            "pk": {"S": f"vote#{vote.region}"}, "writer": {"S": vote.writer}, "healthy": {"BOOL": vote.healthy},
            "streak": {"N": str(vote.streak)}, "ready": {"BOOL": vote.ready}, "at": {"N": f"{vote.at:.3f}"},
        })

    def acquire(self, run: Run, *, epoch: int, now: float) -> bool:
        """Take the lock: only while the control item still has EPOCH and no live run; False when taken."""
        return self._update(
            "SET #run = :run", "(attribute_not_exists(#epoch) OR #epoch = :epoch) AND "
            "(attribute_not_exists(#run) OR #run.lease_until < :now)",
            {":run": _run_value(run), ":epoch": {"N": str(epoch)}, ":now": {"N": f"{now:.3f}"}},
        )

    def progress(self, run: Run) -> bool:
        """Record RUN's step (and renewed lease), as long as the lock is still RUN's."""
        return self._update("SET #run = :run", "#run.#token = :token",
                            {":run": _run_value(run), ":token": {"S": run.token}})

    def finish(self, run: Run) -> bool:
        """End RUN: the control item's epoch becomes the topology epoch it recorded."""
        return self._update("SET #epoch = :epoch REMOVE #run", "#run.#token = :token",
                            {":epoch": {"N": str(run.topology_epoch)}, ":token": {"S": run.token}})

    def set_dns_moved(self, region: str, target: str | None) -> None:
        """Remember (or forget, TARGET None) that REGION's latency record answers with TARGET."""
        key = {"pk": {"S": f"dns#{region}"}}
        if target is None:
            self.client.delete_item(TableName=self.name, Key=key)
        else:
            self.client.put_item(TableName=self.name, Item={**key, "target": {"S": target}})

    def _update(self, expression: str, condition: str, values: dict[str, Any]) -> bool:
        names = {k: v for k, v in (("#run", "run"), ("#epoch", "epoch"), ("#token", "token"))
                 if k in expression or k in condition}
        try:
            self.client.update_item(
                TableName=self.name, Key={"pk": {"S": CONTROL}}, UpdateExpression=expression,
                ConditionExpression=condition, ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _run_value(run: Run) -> dict[str, Any]:
    return {"M": {
        "owner": {"S": run.owner}, "target": {"S": run.target}, "source": {"S": run.source},
        "planned": {"BOOL": run.planned}, "step": {"S": run.step}, "token": {"S": run.token},
        "lease_until": {"N": f"{run.lease_until:.3f}"}, "topology_epoch": {"N": str(run.topology_epoch)},
    }}


def _plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute map as plain values (numbers stay strings: callers convert them)."""
    out = {}
    for key, typed in value.items():
        (kind, inner), = typed.items()
        out[key] = _plain(inner) if kind == "M" else inner
    return out


class Route53:
    """Route 53 as the watchers use it: health-check status by domain, and the latency records."""

    def __init__(self, client: Any, settings: WatchSettings) -> None:
        self.client, self.settings = client, settings
        self._ids: dict[str, str] | None = None

    def check_id(self, region: str) -> str:
        """The health check on REGION's /readyz (found by its domain, made by the global stack)."""
        if self._ids is None:
            found, marker = {}, None
            for _ in range(20):  # pages of 100: bounded
                page = self.client.list_health_checks(**({"Marker": marker} if marker else {}))
                for check in page["HealthChecks"]:
                    domain = check["HealthCheckConfig"].get("FullyQualifiedDomainName")
                    if domain:
                        found[domain] = check["Id"]
                if not page.get("IsTruncated"):
                    break
                marker = page["NextMarker"]
            self._ids = found
        return self._ids[self.settings.fqdn(region)]

    def healthy(self, region: str) -> bool | None:
        """Whether most Route 53 checkers see REGION healthy; None when Route 53 cannot tell us."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            reports = self.client.get_health_check_status(HealthCheckId=self.check_id(region))
        except (BotoCoreError, ClientError, KeyError) as exc:
            log.warning("route53_status_unknown", region=region, error=type(exc).__name__)
            return None
        statuses = [o["StatusReport"]["Status"] for o in reports["HealthCheckObservations"]]
        return bool(statuses) and sum(s.startswith("Success") for s in statuses) * 2 > len(statuses)

    def route(self, region: str, to: str) -> None:
        """Make REGION's latency record answer with TO's load balancer, under TO's health check."""
        s = self.settings
        self.client.change_resource_record_sets(HostedZoneId=s.hosted_zone_id, ChangeBatch={
            "Comment": f"orbitask failover: {region} answers with {to}",
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": f"{s.api_domain}.", "Type": "CNAME", "SetIdentifier": region, "Region": region, "TTL": 60,
                "ResourceRecords": [{"Value": s.fqdn(to)}], "HealthCheckId": self.check_id(to),
            }}],
        })


class Accelerator:
    """Global Accelerator as the watchers use it: each region's endpoint group on the listener, and its traffic dial."""

    def __init__(self, client: Any, settings: WatchSettings) -> None:
        self.client, self.settings = client, settings

    def group_arn(self, region: str) -> str:
        """The endpoint group of REGION (made by its regional stack) on the accelerator's listener."""
        marker: dict[str, str] = {}
        for _ in range(20):  # pages of 100: bounded
            page = self.client.list_endpoint_groups(ListenerArn=self.settings.accelerator_listener, MaxResults=100,
                                                    **marker)
            for group in page["EndpointGroups"]:
                if group["EndpointGroupRegion"] == region:
                    return str(group["EndpointGroupArn"])
            if not page.get("NextToken"):
                break
            marker = {"NextToken": page["NextToken"]}
        raise KeyError(f"no endpoint group for {region} on {self.settings.accelerator_listener}")

    def route(self, region: str, to: str) -> None:
        """REGION's share of the traffic the accelerator sends it: all of it when TO is REGION itself, else none
        (the accelerator then sends those clients to the nearest other healthy region, TO among them)."""
        self.client.update_endpoint_group(EndpointGroupArn=self.group_arn(region),
                                          TrafficDialPercentage=100.0 if to == region else 0.0)


def traffic(settings: WatchSettings, aws: AwsClients, route53: Route53) -> Route53 | Accelerator:
    """What moves a lost writer's clients: its latency record (ROUTE53), or its endpoint group's dial."""
    if not settings.accelerator_listener:
        return route53
    client = aws.globalaccelerator
    if client is None:
        import boto3

        client = boto3.client("globalaccelerator", region_name=ACCELERATOR_API_REGION)
    return Accelerator(client, settings)


async def probe_ready(url: str) -> bool:
    """GET URL/readyz answers 200 within PROBE_TIMEOUT_S."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            return (await client.get(f"{url.rstrip('/')}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def tick(settings: WatchSettings, aws: AwsClients, update_topology: UpdateTopology, *,
               probe: Probe = probe_ready, sleep: Sleep = asyncio.sleep,
               now: Callable[[], float] = time.time) -> dict[str, Any]:
    """One watcher tick: vote, then fail over, resume a run, or restore DNS when this region should."""
    table, route53 = FailoverTable(aws.dynamodb, settings.table), Route53(aws.route53, settings)
    view = await asyncio.to_thread(table.read)
    cluster = await asyncio.to_thread(describe_global_cluster, aws.rds, settings.global_cluster_id)
    arn = writer_arn(cluster)
    if arn is None:
        return {"done": "nothing", "why": "the global cluster has no writer member now"}
    writer, me = region_of(arn), settings.region
    busy = bool((cluster.get("FailoverState") or {}).get("Status"))
    ready = await probe(settings.urls[me])
    healthy = ready if writer == me else busy or await probe(settings.urls[writer]) or bool(
        await asyncio.to_thread(route53.healthy, writer))
    previous = view.votes.get(me)
    streak = 0 if healthy else 1 + (previous.streak if previous and previous.writer == writer
                                    and not previous.healthy and now() - previous.at < VOTE_FRESH_S else 0)
    vote = Vote(region=me, writer=writer, healthy=healthy, streak=streak, ready=ready, at=now())
    await asyncio.to_thread(table.put_vote, vote)
    votes = {**view.votes, me: vote}
    fresh = {r: v for r, v in votes.items() if now() - v.at < VOTE_FRESH_S}
    run = view.run
    if run is not None and run.lease_until < now() and run.target == me:
        log.warning("failover_resumed", step=run.step, source=run.source)
        return await _run(settings, aws, table, route53, update_topology, run=run, epoch=view.epoch, sleep=sleep,
                          now=now)
    if writer == me:
        return await _writer_duties(settings, aws, table, route53, view, fresh)
    if run is not None and run.lease_until >= now():
        return {"done": "nothing", "why": f"{run.owner} is running a failover to {run.target}"}
    unhealthy = sorted(r for r, v in fresh.items() if r != writer and v.writer == writer and not v.healthy
                       and v.streak >= UNHEALTHY_TICKS)
    if len(unhealthy) < settings.majority:
        return {"done": "vote", "writer": writer, "healthy": healthy, "unhealthy_votes": unhealthy}
    leader = next((r for r in settings.failover_order if r != writer and r in fresh), None)
    if leader != me:
        return {"done": "vote", "writer": writer, "healthy": healthy, "why": f"{leader} leads the failover"}
    if not settings.auto_failover:
        log.warning("auto_failover_off", writer_region=writer, votes=unhealthy)
        return {"done": "nothing", "why": "auto failover is off: run `orbitask failover --aws` to promote"}
    log.warning("failover_quorum", writer_region=writer, votes=unhealthy)
    start = Run(owner=me, target=me, source=writer, planned=False, step=STEPS[0], token="", lease_until=0.0)
    return await _run(settings, aws, table, route53, update_topology, run=start, epoch=view.epoch, sleep=sleep,
                      now=now)


async def switchover(settings: WatchSettings, aws: AwsClients, update_topology: UpdateTopology, *, target: str,
                     planned: bool, sleep: Sleep = asyncio.sleep, now: Callable[[], float] = time.time,
                     ) -> dict[str, Any]:
    """An operator's failover to TARGET under the watchers' lock (so no watcher starts another meanwhile)."""
    table, route53 = FailoverTable(aws.dynamodb, settings.table), Route53(aws.route53, settings)
    view = await asyncio.to_thread(table.read)
    cluster = await asyncio.to_thread(describe_global_cluster, aws.rds, settings.global_cluster_id)
    arn = writer_arn(cluster)
    start = Run(owner=settings.region, target=target, source=region_of(arn) if arn else target, planned=planned,
                step=STEPS[0], token="", lease_until=0.0)
    return await _run(settings, aws, table, route53, update_topology, run=start, epoch=view.epoch, sleep=sleep,
                      now=now)


async def _run(settings: WatchSettings, aws: AwsClients, table: FailoverTable, route53: Route53,
               update_topology: UpdateTopology, *, run: Run, epoch: int, sleep: Sleep,
               now: Callable[[], float]) -> dict[str, Any]:
    """Take the lock (resuming RUN's step if it was cut short), then RDS and the topology, then traffic (DNS or
    the accelerator's dial)."""
    run = _with(run, token=secrets.token_hex(8), lease_until=now() + LEASE_S)
    if not await asyncio.to_thread(table.acquire, run, epoch=epoch, now=now()):
        return {"done": "nothing", "why": "another watcher holds the failover lock"}
    if run.step == "rds":
        cluster = await asyncio.to_thread(describe_global_cluster, aws.rds, settings.global_cluster_id)
        arn = writer_arn(cluster)
        if arn is not None and region_of(arn) not in (run.source, run.target):
            await asyncio.to_thread(table.finish, _with(run, topology_epoch=epoch))
            return {"done": "nothing", "why": f"the writer moved to {region_of(arn)} meanwhile"}

        async def bump(region: str) -> int:
            nonlocal run
            topology_epoch = await update_topology(region)
            run = _with(run, step="dns", topology_epoch=topology_epoch, lease_until=now() + LEASE_S)
            if not await asyncio.to_thread(table.progress, run):
                log.warning("failover_lock_lost", step="topology", epoch=topology_epoch)
            return topology_epoch

        await aws_failover(settings.global_cluster_id, run.target, run.planned, bump, aws.rds,
                           timeout_s=RDS_WAIT_S, sleep=sleep)
    if not run.planned and run.source != run.target:
        try:
            await asyncio.to_thread(traffic(settings, aws, route53).route, run.source, run.target)
        except Exception as exc:  # Route 53's API lives in us-east-1, the accelerator's in us-west-2: a later tick retries
            await asyncio.to_thread(table.progress, _with(run, lease_until=now()))
            log.warning("failover_dns_pending", region=run.source, error=type(exc).__name__)
            return {"done": "failover", "writer": run.target, "epoch": run.topology_epoch, "dns": "pending"}
        await asyncio.to_thread(table.set_dns_moved, run.source, run.target)
    await asyncio.to_thread(table.finish, run)
    log.warning("failover_done", writer=run.target, source=run.source, epoch=run.topology_epoch, planned=run.planned)
    return {"done": "failover", "writer": run.target, "epoch": run.topology_epoch, "planned": run.planned}


async def _writer_duties(settings: WatchSettings, aws: AwsClients, table: FailoverTable, route53: Route53,
                         view: TableView, fresh: dict[str, Vote]) -> dict[str, Any]:
    """In the writer region: give an old writer its traffic back once it is fenced, and say when cut off."""
    me, restored = settings.region, []
    route = traffic(settings, aws, route53) if view.dns_moved else None
    for region in sorted(view.dns_moved):
        vote = fresh.get(region)
        if vote is not None and vote.writer == me and vote.ready:  # it knows it is a secondary, and serves
            await asyncio.to_thread(route.route, region, region)  # type: ignore[union-attr]
            await asyncio.to_thread(table.set_dns_moved, region, None)
            log.info("failover_dns_restored", region=region)
            restored.append(region)
    if len(fresh) < settings.majority:
        # cut off from most watchers: they may be promoting another region (see docs/deploy-aws.md)
        log.warning("writer_isolated", seen=sorted(fresh), needed=settings.majority)
        return {"done": "vote", "writer": me, "isolated": True, "restored": restored}
    return {"done": "vote", "writer": me, "restored": restored}


def _with(run: Run, **changes: Any) -> Run:
    return Run(**{**run.__dict__, **changes})
