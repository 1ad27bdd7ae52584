"""The Task service: cards, checklists, comments, activity."""
