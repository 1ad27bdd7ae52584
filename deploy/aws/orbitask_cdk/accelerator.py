"""Global Accelerator (`global_accelerator: true`): two static anycast addresses for the API name, in front of every
region's load balancer, instead of Route 53 latency records (docs/deploy-aws.md, "Global Accelerator").

The accelerator and its listener live in the global stack, which deploys before the regions; each regional stack
adds its own endpoint group with its load balancer, so a region joins the accelerator in its own pipeline wave.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_globalaccelerator as ga
from aws_cdk import aws_globalaccelerator_endpoints as ga_endpoints
from constructs import Construct

from .config import DeployConfig

PORT = 443  # TCP: TLS ends at the load balancers, whose certificates name api_domain
HEALTH_PATH = "/readyz"  # regional readiness (for load balancer endpoints AWS uses the ALB's own target health)
HEALTH_INTERVAL_S = 10
HEALTH_THRESHOLD = 3
FULL_DIAL = 100  # the failover watchers set a lost writer's group to 0 and give it back 100 (regions/aws_watch.py)


def accelerator_name(cfg: DeployConfig) -> str:
    """The accelerator's name."""
    return f"{cfg.name}-api"


class Accelerator(Construct):
    """The accelerator (IPv4, two static anycast addresses) and its listener on 443/TCP; endpoint groups: below."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        self.accelerator = ga.Accelerator(self, "Accelerator", accelerator_name=accelerator_name(cfg), enabled=True)
        # no client affinity: every request is routed on its own (the app is stateless between requests; a
        # WebSocket is one TCP connection and stays where it started)
        self.listener = self.accelerator.add_listener(
            "Https", listener_name=f"{cfg.name}-https", port_ranges=[ga.PortRange(from_port=PORT)],
            protocol=ga.ConnectionProtocol.TCP, client_affinity=ga.ClientAffinity.NONE,
        )

    @property
    def listener_arn(self) -> str:
        """The listener's ARN: the regions' endpoint groups attach to it, the watchers list its groups."""
        return self.listener.listener_arn


def endpoint_group(scope: Construct, cfg: DeployConfig, region: str, *, listener_arn: str,
                   alb: elbv2.IApplicationLoadBalancer) -> ga.EndpointGroup:
    """REGION's endpoint group on the accelerator's listener: its load balancer, client addresses preserved, and
    the full traffic dial (a failover watcher dials a lost writer's group down to 0 and back)."""
    listener = ga.Listener.from_listener_arn(scope, "AcceleratorListener", listener_arn)
    return ga.EndpointGroup(
        scope, "AcceleratorEndpoints", listener=listener, region=region, endpoint_group_name=f"{cfg.name}-{region}",
        endpoints=[ga_endpoints.ApplicationLoadBalancerEndpoint(alb, preserve_client_ip=True)],
        health_check_protocol=ga.HealthCheckProtocol.HTTPS, health_check_port=PORT, health_check_path=HEALTH_PATH,
        health_check_interval=cdk.Duration.seconds(HEALTH_INTERVAL_S), health_check_threshold=HEALTH_THRESHOLD,
        traffic_dial_percentage=FULL_DIAL,
    )
