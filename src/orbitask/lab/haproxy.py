"""HAProxy entry points: one per client location, the local region first, the others as ordered backups.

The Route 53 latency + failover role: each entry sends clients to their own region while its
/api/v1/readyz answers (checked every second), else to the nearest healthy other region
through the WAN links, as a client on that continent would reach it. WebSockets pass through.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orbitask.lab.procs import port_open, spawn, wait_until
from orbitask.lab.state import REGIONS, LabState

INSTALL_HINT = "install it with `apt-get install -y haproxy` (`make servers` does this for you)"
START_TIMEOUT_S = 20.0


class MissingHAProxy(RuntimeError):
    """haproxy is not installed."""


def haproxy_binary() -> str:
    path = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(path).exists():
        raise MissingHAProxy(f"haproxy is not installed: {INSTALL_HINT}")
    return path


def config(state: LabState) -> str:
    """haproxy.cfg for every entry point of the lab."""
    lines = [
        "global", "    maxconn 4000", f"    pidfile {state.dir / 'haproxy.pid'}",
        "defaults", "    mode http", "    timeout connect 3s", "    timeout client 60s", "    timeout server 60s",
        "    timeout tunnel 1h", "    timeout http-keep-alive 60s", "    option redispatch", "    retries 2",
    ]
    for location in REGIONS:
        lines += [
            f"frontend entry_{location}", f"    bind 127.0.0.1:{state.regions[location].entry_port}",
            f"    default_backend regions_from_{location}",
            f"backend regions_from_{location}",
            "    option httpchk GET /api/v1/readyz", "    http-check expect status 200",
            "    default-server inter 1s fall 3 rise 2",
        ]
        for region in state.nearest(location):
            backup = "" if region == location else " backup"
            lines.append(f"    server {region} 127.0.0.1:{state.link_port(location, region, 'api')} check{backup}")
    return "\n".join(lines) + "\n"


def start(state: LabState) -> int:
    """Write the config and start haproxy in the foreground mode (tracked by PID)."""
    path = state.dir / "haproxy.cfg"
    path.write_text(config(state))
    pid = spawn([haproxy_binary(), "-db", "-f", str(path)], state.dir / "haproxy.log")
    for region in REGIONS:
        port = state.regions[region].entry_port
        wait_until(lambda p=port: port_open(p), f"haproxy entry on port {port}", START_TIMEOUT_S, pid,
                   state.dir / "haproxy.log")
    return pid
