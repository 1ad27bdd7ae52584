"""Search: full-text search over cards, their comments, checklist items and attachment names."""
