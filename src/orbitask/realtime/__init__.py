"""Real-time delivery: the outbox relay, the per-process hub and the WebSocket gateway."""
