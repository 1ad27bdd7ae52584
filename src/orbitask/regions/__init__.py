"""Regions: topology (which region writes), one-hop write forwarding, failover."""
