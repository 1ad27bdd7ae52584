"""Cross-cutting building blocks with no business rules."""
