"""The local multi-region lab: MariaDB, Redis and API nodes per region, a WAN emulator, HAProxy, drills."""
