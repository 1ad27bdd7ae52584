"""The failover watchers, step by step against botocore's Stubber (RDS, DynamoDB, Route 53, Global Accelerator): who
votes what, when a quorum fails over, the lock, a resumed run, a planned switchover, an old writer returning fenced,
and the whole sequence through the Lambda's real entry point."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from orbitask.core.db import Database
from orbitask.regions import aws, aws_lambda, aws_watch
from orbitask.regions.aws_lambda import handle
from orbitask.regions.aws_watch import AwsClients, WatchSettings
from orbitask.regions.models import TOPOLOGY_ID
from orbitask.regions.models import Topology as TopologyRow
from orbitask.regions.topology import set_writer
from tests.regions.test_aws_failover import EU, GLOBAL, PRIMARY, Topology, described, operation_answer

ORDER = ("us-east-1", "eu-west-1", "ap-southeast-1")
US, EW, AP = ORDER
DOMAIN = "api.orbitask.example.com"
ZONE = "Z0123456789EXAMPLE0AB"
TABLE = "orbitask-failover"
NOW = 1_800_000_000.0
CHECKS = {region: f"check-{region}" for region in ORDER}
LISTENER = "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1"
GROUPS = {region: f"{LISTENER}/endpoint-group/g-{region}" for region in ORDER}


def settings(region: str, *, auto: bool = True, accelerator: bool = False) -> WatchSettings:
    return WatchSettings(region=region, global_cluster_id=GLOBAL, failover_order=ORDER, auto_failover=auto,
                         table=TABLE, hosted_zone_id=ZONE, api_domain=DOMAIN,
                         urls={r: f"https://{r}.{DOMAIN}" for r in ORDER},
                         accelerator_listener=LISTENER if accelerator else "")


def vote(region: str, writer: str, *, healthy: bool, streak: int = 0, age: float = 30, ready: bool = True) -> dict:
    """A vote item as DynamoDB returns it, AGE seconds old."""
    return {"pk": {"S": f"vote#{region}"}, "writer": {"S": writer}, "healthy": {"BOOL": healthy},
            "streak": {"N": str(streak)}, "ready": {"BOOL": ready}, "at": {"N": str(NOW - age)}}


def control(epoch: int, run: dict[str, Any] | None = None) -> dict:
    item: dict[str, Any] = {"pk": {"S": "control"}, "epoch": {"N": str(epoch)}}
    if run is not None:
        item["run"] = {"M": {k: {"BOOL": v} if isinstance(v, bool) else {"N": str(v)} if isinstance(v, int | float)
                             else {"S": v} for k, v in run.items()}}
    return item


def dns_moved(region: str, target: str) -> dict:
    return {"pk": {"S": f"dns#{region}"}, "target": {"S": target}}


@dataclass
class World:
    """Three stubbed clients, the order of every AWS call across them, /readyz answers and the topology row."""

    aws: AwsClients
    rds: Stubber
    ddb: Stubber
    r53: Stubber
    ga: Stubber
    calls: list[tuple[str, dict[str, Any]]]
    ready: dict[str, bool] = field(default_factory=dict)
    probed: list[str] = field(default_factory=list)
    topology: Topology | None = None

    def ops(self) -> list[str]:
        return [name for name, _ in self.calls]

    def params(self, name: str) -> list[dict[str, Any]]:
        return [params for op, params in self.calls if op == name]

    async def probe(self, url: str) -> bool:
        self.probed.append(url)
        return self.ready[url.split("//")[1].split(".")[0]]

    async def tick(self, region: str, **kw: Any) -> dict[str, Any]:
        assert self.topology is not None
        return await aws_watch.tick(settings(region, **kw), self.aws, self.topology, probe=self.probe,
                                    sleep=no_wait, now=lambda: NOW)

    def scan(self, *items: dict) -> None:
        self.ddb.add_response("scan", {"Items": list(items)}, {"TableName": TABLE, "ConsistentRead": True})

    def describe(self, answer: dict[str, Any]) -> None:
        self.rds.add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL})

    def ok(self, operation: str, times: int = 1) -> None:
        for _ in range(times):
            self.ddb.add_response(operation, {})

    def health(self, region: str, healthy: bool) -> None:
        status = "Success: HTTP Status Code 200, OK" if healthy else "Failure: Connection timed out"
        self.r53.add_response("get_health_check_status", {"HealthCheckObservations": [
            {"Region": r, "IPAddress": "192.0.2.1", "StatusReport": {"Status": status}}
            for r in ("us-east-1", "eu-west-1", "ap-southeast-1")]}, {"HealthCheckId": CHECKS[region]})

    def health_checks(self) -> None:
        self.r53.add_response("list_health_checks", {"HealthChecks": [
            {"Id": CHECKS[r], "CallerReference": r, "HealthCheckVersion": 1, "HealthCheckConfig": {
                "Type": "HTTPS", "FullyQualifiedDomainName": f"{r}.{DOMAIN}", "ResourcePath": "/readyz"}}
            for r in ORDER], "Marker": "", "IsTruncated": False, "MaxItems": "100"}, {})

    def health_checks_of(self, names: dict[str, str]) -> None:
        """ListHealthChecks naming each region's check by the host in NAMES (the probes' local addresses)."""
        self.r53.add_response("list_health_checks", {"HealthChecks": [
            {"Id": CHECKS[r], "CallerReference": r, "HealthCheckVersion": 1, "HealthCheckConfig": {
                "Type": "HTTPS", "FullyQualifiedDomainName": host, "ResourcePath": "/readyz"}}
            for r, host in names.items()], "Marker": "", "IsTruncated": False, "MaxItems": "100"}, {})

    def record_change(self) -> None:
        self.r53.add_response("change_resource_record_sets", {"ChangeInfo": {
            "Id": "/change/C1", "Status": "PENDING", "SubmittedAt": "2026-12-08T00:00:00Z"}})

    def dial(self, region: str, percent: float) -> None:
        """The accelerator's endpoint groups listed, then REGION's dialled to PERCENT."""
        self.ga.add_response("list_endpoint_groups", {"EndpointGroups": [
            {"EndpointGroupArn": GROUPS[r], "EndpointGroupRegion": r, "TrafficDialPercentage": 100.0} for r in ORDER]},
            {"ListenerArn": LISTENER, "MaxResults": 100})
        self.ga.add_response("update_endpoint_group", {"EndpointGroup": {
            "EndpointGroupArn": GROUPS[region], "EndpointGroupRegion": region, "TrafficDialPercentage": percent}},
            {"EndpointGroupArn": GROUPS[region], "TrafficDialPercentage": percent})

    def routed(self) -> list[tuple[str, str, str]]:
        """(region, the name its latency record answers with, health check) of every Route 53 change."""
        changes = [c["ResourceRecordSet"] for p in self.params("ChangeResourceRecordSets")
                   for c in p["ChangeBatch"]["Changes"]]
        return [(r["Region"], r["ResourceRecords"][0]["Value"], r["HealthCheckId"]) for r in changes]

    def run_written(self) -> list[dict[str, Any]]:
        """The control item's `run` as each update wrote it (None for the update that ended the run)."""
        return [p["ExpressionAttributeValues"].get(":run", {}).get("M") for p in self.params("UpdateItem")]


async def no_wait(_: float) -> None:
    return None


def recorded_client(service: str, region: str, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    """A real boto3 client of SERVICE that appends (operation, parameters) of every call to CALLS."""
    client = boto3.client(service, region_name=region, aws_access_key_id="test", aws_secret_access_key="test")
    client.meta.events.register("before-parameter-build.*.*",
                                lambda params, model, **_: calls.append((model.name, dict(params))))
    return client


@pytest.fixture
def world() -> Iterator[World]:
    clients: dict[str, Any] = {}
    calls: list[tuple[str, dict[str, Any]]] = []
    services = ("rds", "dynamodb", "route53", "globalaccelerator")
    for service in services:
        clients[service] = recorded_client(service, "us-west-2" if service == "globalaccelerator" else "eu-west-1",
                                           calls)
    stubbers = [Stubber(clients[s]) for s in services]
    for stubber in stubbers:
        stubber.activate()
    w = World(AwsClients(rds=clients["rds"], dynamodb=clients["dynamodb"], route53=clients["route53"],
                         globalaccelerator=clients["globalaccelerator"]), *stubbers, calls=calls)
    w.topology = Topology(w.rds)
    yield w
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def expect_unplanned_failover_to_eu(w: World) -> None:
    """The run: lock, RDS failover and its wait, topology (checked by Topology), progress."""
    w.ok("update_item")  # the lock
    w.describe(described(PRIMARY))  # the writer is still the one the votes are about
    w.describe(described(PRIMARY))  # aws_failover's own look
    w.rds.add_response("failover_global_cluster", operation_answer("failing-over"),
                       {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU, "AllowDataLoss": True})
    w.describe(described(EU))
    w.ok("update_item")  # step: dns, with the topology epoch


async def test_writer_region_lost_with_its_watcher_the_first_live_region_fails_over(world: World) -> None:
    w = world
    w.scan(vote(US, US, healthy=True, age=600),  # us-east-1's watcher went with its region: its vote is stale
           vote(EW, US, healthy=False, streak=2, age=60), vote(AP, US, healthy=False, streak=3), control(7))
    w.describe(described(PRIMARY))
    w.ready.update({EW: True, US: False})
    w.health_checks()
    w.health(US, False)
    w.ok("put_item")  # eu-west-1's vote
    expect_unplanned_failover_to_eu(w)
    w.record_change()
    w.ok("put_item")  # the DNS move, remembered
    w.ok("update_item")  # the run ends: the control epoch becomes the topology epoch

    outcome = await w.tick(EW)

    assert outcome == {"done": "failover", "writer": EW, "epoch": 8, "planned": False}
    assert w.ops() == [
        "Scan", "DescribeGlobalClusters", "ListHealthChecks", "GetHealthCheckStatus", "PutItem",
        "UpdateItem", "DescribeGlobalClusters", "DescribeGlobalClusters", "FailoverGlobalCluster",
        "DescribeGlobalClusters", "UpdateItem", "ChangeResourceRecordSets", "PutItem", "UpdateItem"]
    assert w.probed == [f"https://{EW}.{DOMAIN}", f"https://{US}.{DOMAIN}"]
    put_vote = w.params("PutItem")[0]["Item"]
    assert (put_vote["pk"], put_vote["healthy"], put_vote["streak"]) == ({"S": "vote#eu-west-1"}, {"BOOL": False},
                                                                         {"N": "3"})
    lock, step, end = w.params("UpdateItem")
    assert lock["ExpressionAttributeValues"][":epoch"] == {"N": "7"} and "#epoch = :epoch" in lock["ConditionExpression"]
    assert w.run_written()[0]["step"] == {"S": "rds"} and w.run_written()[1]["topology_epoch"] == {"N": "8"}
    assert end["ExpressionAttributeValues"][":epoch"] == {"N": "8"} and "REMOVE #run" in end["UpdateExpression"]
    assert w.topology is not None and w.topology.calls == [EW]
    # us-east-1's latency record now answers with eu-west-1, under eu-west-1's health check
    assert w.routed() == [(US, f"{EW}.{DOMAIN}", CHECKS[EW])]
    assert w.params("PutItem")[1]["Item"] == dns_moved(US, EW)


@pytest.mark.parametrize(("case", "ap_vote", "eu_streak_before"), [
    ("ap-southeast-1 still sees the writer healthy", vote(AP, US, healthy=True), 2),
    ("eu-west-1 has seen it unhealthy for 2 minutes only", vote(AP, US, healthy=False, streak=5), 1),
    ("ap-southeast-1's watcher is gone too: one region is no majority", vote(AP, US, healthy=False, streak=5,
                                                                             age=600), 5),
])
async def test_no_failover_without_a_quorum_of_regions(world: World, case: str, ap_vote: dict,
                                                       eu_streak_before: int) -> None:
    w = world
    w.scan(vote(EW, US, healthy=False, streak=eu_streak_before, age=60), ap_vote, control(7))
    w.describe(described(PRIMARY))
    w.ready.update({EW: True, US: False})
    w.health_checks()
    w.health(US, False)
    w.ok("put_item")

    outcome = await w.tick(EW)

    assert outcome["done"] == "vote", case
    assert w.ops() == ["Scan", "DescribeGlobalClusters", "ListHealthChecks", "GetHealthCheckStatus", "PutItem"]
    assert w.topology is not None and w.topology.calls == []


async def test_a_watcher_that_reaches_the_writer_or_route53_sees_healthy_votes_healthy(world: World) -> None:
    w = world
    w.scan(vote(EW, US, healthy=False, streak=2), vote(AP, US, healthy=False, streak=3), control(7))
    w.describe(described(PRIMARY))
    w.ready.update({EW: True, US: False})  # its own probe fails (a WAN problem between eu-west-1 and us-east-1)
    w.health_checks()
    w.health(US, True)  # but Route 53's checkers, all over the world, reach it
    w.ok("put_item")

    outcome = await w.tick(EW)

    assert outcome == {"done": "vote", "writer": US, "healthy": True, "unhealthy_votes": [AP]}
    assert w.params("PutItem")[0]["Item"]["streak"] == {"N": "0"}


async def test_the_lock_lets_only_one_run_start(world: World) -> None:
    w = world
    for _ in range(2):  # two ticks that both see a quorum: the second finds the lock taken
        w.scan(vote(EW, US, healthy=False, streak=3), vote(AP, US, healthy=False, streak=3), control(7))
        w.describe(described(PRIMARY))
        w.health_checks()
        w.health(US, False)
        w.ok("put_item")
        w.ddb.add_client_error("update_item", service_error_code="ConditionalCheckFailedException",
                               service_message="The conditional request failed", http_status_code=400)
    w.ready.update({EW: True, US: False})

    first, second = await w.tick(EW), await w.tick(EW)

    assert first == second == {"done": "nothing", "why": "another watcher holds the failover lock"}
    assert "FailoverGlobalCluster" not in w.ops() and w.topology is not None and w.topology.calls == []


async def test_a_live_run_elsewhere_is_left_alone(world: World) -> None:
    w = world
    running = {"owner": EW, "target": EW, "source": US, "planned": False, "step": "rds", "token": "t1",
               "lease_until": NOW + 300, "topology_epoch": 0}
    w.scan(vote(EW, US, healthy=False, streak=3), vote(AP, US, healthy=False, streak=3), control(7, running))
    w.describe(described(PRIMARY))
    w.ready.update({AP: True, US: False})
    w.health_checks()
    w.health(US, False)
    w.ok("put_item")

    outcome = await w.tick(AP)

    assert outcome == {"done": "nothing", "why": "eu-west-1 is running a failover to eu-west-1"}
    assert "UpdateItem" not in w.ops()


async def test_a_run_cut_short_after_the_topology_resumes_at_dns_without_repeating_rds(world: World) -> None:
    w = world
    # the first run's Lambda timed out after the topology bump (epoch 8): its lease has run out
    cut = {"owner": EW, "target": EW, "source": US, "planned": False, "step": "dns", "token": "t1",
           "lease_until": NOW - 1, "topology_epoch": 8}
    w.scan(vote(EW, EW, healthy=True), control(7, cut))
    w.describe(described(EU))
    w.ready.update({EW: True})
    w.ok("put_item")
    w.ok("update_item")  # the lock, taken again (its lease ran out)
    w.health_checks()
    w.record_change()
    w.ok("put_item")
    w.ok("update_item")

    outcome = await w.tick(EW)

    assert outcome == {"done": "failover", "writer": EW, "epoch": 8, "planned": False}
    assert w.ops() == ["Scan", "DescribeGlobalClusters", "PutItem", "UpdateItem", "ListHealthChecks",
                       "ChangeResourceRecordSets", "PutItem", "UpdateItem"]
    lock = w.params("UpdateItem")[0]
    assert "#run.lease_until < :now" in lock["ConditionExpression"] and w.run_written()[0]["step"] == {"S": "dns"}
    assert w.topology is not None and w.topology.calls == []  # the epoch is bumped once
    assert w.routed() == [(US, f"{EW}.{DOMAIN}", CHECKS[EW])]


async def test_dns_that_cannot_change_leaves_the_run_for_the_next_tick(world: World) -> None:
    w = world
    w.scan(vote(EW, US, healthy=False, streak=3), vote(AP, US, healthy=False, streak=3), control(7))
    w.describe(described(PRIMARY))
    w.ready.update({EW: True, US: False})
    w.health_checks()
    w.health(US, False)
    w.ok("put_item")
    expect_unplanned_failover_to_eu(w)
    w.r53.add_client_error("change_resource_record_sets", service_error_code="ServiceUnavailable",
                           http_status_code=503)
    w.ok("update_item")  # the run, lease released at once, step still dns

    outcome = await w.tick(EW)

    assert outcome == {"done": "failover", "writer": EW, "epoch": 8, "dns": "pending"}
    left = w.run_written()[-1]
    assert left["step"] == {"S": "dns"} and float(left["lease_until"]["N"]) <= NOW
    assert not [p for p in w.params("UpdateItem") if "REMOVE" in p["UpdateExpression"]]


async def test_planned_switchover_by_an_operator_runs_under_the_lock_and_keeps_dns(world: World) -> None:
    w = world
    w.scan(vote(EW, US, healthy=True), control(7))
    w.describe(described(PRIMARY))
    w.ok("update_item")
    w.describe(described(PRIMARY))
    w.describe(described(PRIMARY))
    w.rds.add_response("switchover_global_cluster", operation_answer("switching-over"),
                       {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU})
    w.describe(described(EU))
    w.ok("update_item", times=2)
    assert w.topology is not None

    outcome = await handle({"action": "failover", "target_region": EW, "planned": True}, settings=settings(EW),
                           aws=w.aws, update_topology=w.topology, sleep=no_wait)

    assert outcome == {"done": "failover", "writer": EW, "epoch": 8, "planned": True}
    assert "ChangeResourceRecordSets" not in w.ops() and "FailoverGlobalCluster" not in w.ops()
    assert w.run_written()[0]["planned"] == {"BOOL": True} and w.topology.calls == [EW]


async def test_after_a_failover_the_watchers_watch_the_new_writer(world: World) -> None:
    w = world
    w.scan(vote(EW, EW, healthy=True), vote(AP, US, healthy=False, streak=4), control(8))
    w.describe(described(EU))  # read each tick: nothing is fixed to us-east-1
    w.ready.update({AP: True, EW: True})
    w.ok("put_item")

    outcome = await w.tick(AP)

    assert outcome == {"done": "vote", "writer": EW, "healthy": True, "unhealthy_votes": []}
    assert w.probed == [f"https://{AP}.{DOMAIN}", f"https://{EW}.{DOMAIN}"]
    assert w.params("PutItem")[0]["Item"]["writer"] == {"S": EW}


async def test_the_old_writer_returns_fenced_and_gets_its_dns_back_only_then(world: World) -> None:
    w = world
    # us-east-1 is back: RDS made its cluster a secondary, so its watcher watches eu-west-1 and never acts as writer
    w.scan(vote(EW, EW, healthy=True), vote(US, US, healthy=False, streak=9, age=900), control(8), dns_moved(US, EW))
    w.describe(described(EU))
    w.ready.update({US: False, EW: True})  # its services still point at its inactive cluster endpoint
    w.ok("put_item")
    back = await w.tick(US)
    assert back == {"done": "vote", "writer": EW, "healthy": True, "unhealthy_votes": []}
    assert w.params("PutItem")[0]["Item"]["ready"] == {"BOOL": False}

    # eu-west-1, the writer, leaves the DNS moved while us-east-1 is not ready ...
    w.scan(vote(EW, EW, healthy=True), vote(US, EW, healthy=True, ready=False), control(8), dns_moved(US, EW))
    w.describe(described(EU))
    w.ok("put_item")
    waiting = await w.tick(EW)
    assert waiting == {"done": "vote", "writer": EW, "restored": []} and "ChangeResourceRecordSets" not in w.ops()

    # ... and gives it back once us-east-1 is ready as a secondary (redeployed with writer_region: eu-west-1)
    w.scan(vote(EW, EW, healthy=True), vote(US, EW, healthy=True, ready=True), control(8), dns_moved(US, EW))
    w.describe(described(EU))
    w.ok("put_item")
    w.health_checks()
    w.record_change()
    w.ok("delete_item")
    restored = await w.tick(EW)

    assert restored == {"done": "vote", "writer": EW, "restored": [US]}
    assert w.routed() == [(US, f"{US}.{DOMAIN}", CHECKS[US])]
    assert w.params("DeleteItem") == [{"TableName": TABLE, "Key": {"pk": {"S": "dns#us-east-1"}}}]


async def test_a_writer_that_sees_no_majority_of_watchers_says_it_is_isolated(world: World) -> None:
    w = world
    w.scan(vote(US, US, healthy=True), vote(EW, US, healthy=True, age=400), vote(AP, US, healthy=True, age=400),
           control(7))
    w.describe(described(PRIMARY))
    w.ready.update({US: True})
    w.ok("put_item")

    outcome = await w.tick(US)

    assert outcome == {"done": "vote", "writer": US, "isolated": True, "restored": []}


def test_every_wait_of_a_run_is_bounded_below_the_lambda_timeout() -> None:
    assert aws_watch.RDS_WAIT_S < aws_watch.RUN_BOUND_S < aws_watch.LAMBDA_TIMEOUT_S <= aws_watch.LEASE_S


async def test_with_global_accelerator_the_lost_writer_is_dialled_to_zero_and_back_once_fenced(world: World) -> None:
    w = world
    w.scan(vote(EW, US, healthy=False, streak=2, age=60), vote(AP, US, healthy=False, streak=3), control(7))
    w.describe(described(PRIMARY))
    w.ready.update({EW: True, US: False})
    w.health_checks()
    w.health(US, False)  # the /readyz health checks stay: they vote with the probe
    w.ok("put_item")
    expect_unplanned_failover_to_eu(w)
    w.dial(US, 0.0)
    w.ok("put_item")  # the move, remembered as for DNS
    w.ok("update_item")

    failed_over = await w.tick(EW, accelerator=True)

    assert failed_over == {"done": "failover", "writer": EW, "epoch": 8, "planned": False}
    assert w.ops()[-5:] == ["UpdateItem", "ListEndpointGroups", "UpdateEndpointGroup", "PutItem", "UpdateItem"]
    assert "ChangeResourceRecordSets" not in w.ops()  # no latency records to move
    assert w.params("PutItem")[1]["Item"] == dns_moved(US, EW)

    w.scan(vote(EW, EW, healthy=True), vote(US, EW, healthy=True, ready=True), control(8), dns_moved(US, EW))
    w.describe(described(EU))
    w.ok("put_item")
    w.dial(US, 100.0)
    w.ok("delete_item")

    restored = await w.tick(EW, accelerator=True)

    assert restored == {"done": "vote", "writer": EW, "restored": [US]}
    assert [p["TrafficDialPercentage"] for p in w.params("UpdateEndpointGroup")] == [0.0, 100.0]
    assert {p["EndpointGroupArn"] for p in w.params("UpdateEndpointGroup")} == {GROUPS[US]}


class Ready(BaseHTTPRequestHandler):
    """eu-west-1's load balancer as the watcher's probe sees it: /readyz answers 200."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def ready_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def test_the_real_handler_runs_the_whole_sequence_end_to_end(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              template_db: Path, ready_server: str) -> None:
    """`aws_lambda.handler` as Lambda calls it, with real boto3 clients answered by Stubbers queued for the whole
    sequence, real /readyz probes (127.0.0.1; the lost writer's port refuses) and the real topology row (SQLite):
    us-east-1 lost with its watcher, eu-west-1 fails over and dials us-east-1 down on the accelerator; us-east-1
    returns fenced and gets its traffic back; an operator switches back to us-east-1 through its own Lambda."""
    calls: list[tuple[str, dict[str, Any]]] = []
    services = ("secretsmanager", "rds", "dynamodb", "route53", "globalaccelerator")
    clients = {s: recorded_client(s, "us-west-2" if s == "globalaccelerator" else "eu-west-1", calls) for s in services}
    made: list[tuple[str, str | None]] = []

    def client(service: str, region_name: str | None = None, **_: Any) -> Any:
        made.append((service, region_name))
        return clients[service]

    database = tmp_path / "orbitask.db"
    shutil.copy(template_db, database)
    url = f"sqlite+aiosqlite:///{database}"
    asyncio.run(_seed_topology(url))  # us-east-1 writes, epoch 1
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orbitask/secret-key-AbCdEf"
    regions = [{"name": US, "public_url": "http://localhost:1", "internal_url": "http://localhost:1"},
               {"name": EW, "public_url": ready_server, "internal_url": ready_server},
               {"name": AP, "public_url": ready_server, "internal_url": ready_server}]
    for key, value in {
        "ORBITASK_REGION": EW, "ORBITASK_REGIONS": json.dumps(regions), "ORBITASK_GLOBAL_CLUSTER": GLOBAL,
        "ORBITASK_FAILOVER_ORDER": ",".join(ORDER), "ORBITASK_AUTO_FAILOVER": "true", "ORBITASK_FAILOVER_TABLE": TABLE,
        "ORBITASK_HOSTED_ZONE_ID": ZONE, "ORBITASK_API_DOMAIN": DOMAIN, "ORBITASK_ACCELERATOR_LISTENER": LISTENER,
        "ORBITASK_DATABASE_URL": url, "ORBITASK_DATA_DIR": str(tmp_path), "ORBITASK_LOG_JSON": "false",
        "ORBITASK_SECRETS_FROM": json.dumps({"ORBITASK_SECRET_KEY": secret}),
        # the handler writes the secret into os.environ: named here, monkeypatch takes it out again afterwards
        # (left behind, every server a later test starts in this process would inherit it)
        "ORBITASK_SECRET_KEY": "replaced-by-the-handler",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(boto3, "client", client)
    monkeypatch.setattr(aws, "FIRST_POLL_S", 0.0)  # RDS's answers are queued: no need to wait 5 s before a poll
    stub = {s: Stubber(c) for s, c in clients.items()}
    w = World(AwsClients(rds=clients["rds"], dynamodb=clients["dynamodb"], route53=clients["route53"]),
              stub["rds"], stub["dynamodb"], stub["route53"], stub["globalaccelerator"], calls=calls)
    now = time.time()

    def at(item: dict[str, Any], age: float) -> dict[str, Any]:
        return {**item, "at": {"N": str(now - age)}}

    def secret_read() -> None:
        stub["secretsmanager"].add_response("get_secret_value", {"ARN": secret, "Name": "orbitask/secret-key",
                                                                 "SecretString": "k" * 64}, {"SecretId": secret})

    # 1. eu-west-1's tick: us-east-1 does not answer, its watcher is gone, ap-southeast-1 agrees: failover
    secret_read()
    w.scan(at(vote(US, US, healthy=True), 600), at(vote(EW, US, healthy=False, streak=2), 60),
           at(vote(AP, US, healthy=False, streak=3), 30), control(1))
    w.describe(described(PRIMARY))
    w.health_checks_of({US: "localhost", EW: "127.0.0.1"})
    w.health(US, False)
    w.ok("put_item")
    w.ok("update_item")
    w.describe(described(PRIMARY))
    w.describe(described(PRIMARY))
    w.rds.add_response("failover_global_cluster", operation_answer("failing-over"),
                       {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": EU, "AllowDataLoss": True})
    w.describe(described(EU))
    w.ok("update_item")
    w.dial(US, 0.0)
    w.ok("put_item")
    w.ok("update_item")
    # 2. eu-west-1's tick once us-east-1 is back as a ready secondary: its traffic comes back
    secret_read()
    w.scan(at(vote(EW, EW, healthy=True), 60), at(vote(US, EW, healthy=True, ready=True), 30),
           at(vote(AP, EW, healthy=True), 30), control(2), dns_moved(US, EW))
    w.describe(described(EU))
    w.ok("put_item")
    w.dial(US, 100.0)
    w.ok("delete_item")
    # 3. an operator switches back to us-east-1 through us-east-1's Lambda: planned, nothing lost, traffic kept
    secret_read()
    w.scan(at(vote(EW, EW, healthy=True), 30), at(vote(US, EW, healthy=True), 30), control(2))
    w.describe(described(EU))
    w.ok("update_item")
    w.describe(described(EU))
    w.describe(described(EU))
    w.rds.add_response("switchover_global_cluster", operation_answer("switching-over"),
                       {"GlobalClusterIdentifier": GLOBAL, "TargetDbClusterIdentifier": PRIMARY})
    w.describe(described(PRIMARY))
    w.ok("update_item", times=2)

    for stubber in stub.values():
        stubber.activate()
    failed_over = aws_lambda.handler({"action": "watch"}, None)
    restored = aws_lambda.handler({"action": "watch"}, None)
    monkeypatch.setenv("ORBITASK_REGION", US)
    switched = aws_lambda.handler({"action": "failover", "target_region": US, "planned": True}, None)

    for stubber in stub.values():
        stubber.assert_no_pending_responses()
    assert failed_over == {"done": "failover", "writer": EW, "epoch": 2, "planned": False}
    assert restored == {"done": "vote", "writer": EW, "restored": [US]}
    assert switched == {"done": "failover", "writer": US, "epoch": 3, "planned": True}
    assert w.ops() == [
        "GetSecretValue", "Scan", "DescribeGlobalClusters", "ListHealthChecks", "GetHealthCheckStatus", "PutItem",
        "UpdateItem", "DescribeGlobalClusters", "DescribeGlobalClusters", "FailoverGlobalCluster",
        "DescribeGlobalClusters", "UpdateItem", "ListEndpointGroups", "UpdateEndpointGroup", "PutItem", "UpdateItem",
        "GetSecretValue", "Scan", "DescribeGlobalClusters", "PutItem", "ListEndpointGroups", "UpdateEndpointGroup",
        "DeleteItem",
        "GetSecretValue", "Scan", "DescribeGlobalClusters", "UpdateItem", "DescribeGlobalClusters",
        "DescribeGlobalClusters", "SwitchoverGlobalCluster", "DescribeGlobalClusters", "UpdateItem", "UpdateItem"]
    # the clients the handler made: its region's, and the accelerator's API in us-west-2 (no SQS: the DLQ is
    # Lambda's, fed only by a failed invocation, and every one returned)
    assert set(made) == {("secretsmanager", None), ("rds", EW), ("dynamodb", EW), ("route53", EW),
                         ("globalaccelerator", "us-west-2"), ("rds", US), ("dynamodb", US), ("route53", US)}
    assert [(v["pk"]["S"], v["streak"]["N"]) for v in (p["Item"] for p in w.params("PutItem")) if "streak" in v] == [
        ("vote#eu-west-1", "3"), ("vote#eu-west-1", "0")]
    assert [(p["EndpointGroupArn"], p["TrafficDialPercentage"]) for p in w.params("UpdateEndpointGroup")] == [
        (GROUPS[US], 0.0), (GROUPS[US], 100.0)]
    ends = [p for p in w.params("UpdateItem") if "REMOVE #run" in p["UpdateExpression"]]
    assert [e["ExpressionAttributeValues"][":epoch"] for e in ends] == [{"N": "2"}, {"N": "3"}]
    assert asyncio.run(_topology(url)) == (US, 3)  # the row every API node reads: us-east-1 writes, epoch 3


async def _seed_topology(url: str) -> None:
    db = Database(url)
    try:
        await set_writer(db, US)
    finally:
        await db.dispose()


async def _topology(url: str) -> tuple[str, int]:
    db = Database(url)
    try:
        async with db.write_transaction() as session:
            row = await session.get(TopologyRow, TOPOLOGY_ID)
            assert row is not None
            return row.writer_region, row.epoch
    finally:
        await db.dispose()
