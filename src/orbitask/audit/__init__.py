"""The audit log: security-relevant events, kept apart from activity and the event outbox."""
