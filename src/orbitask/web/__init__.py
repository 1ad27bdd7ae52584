"""The browser app: serving the built bundle (the sources live in web/ at the repository root)."""
