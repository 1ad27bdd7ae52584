"""Backup and restore (`orbitask backup`, `orbitask restore`)."""
