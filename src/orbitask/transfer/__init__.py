"""Import and export: Trello and Orbitask JSON import, JSON/CSV export, iCalendar feeds."""
