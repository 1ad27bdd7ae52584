"""Regions: topology, write forwarding, replica waits, failover."""
