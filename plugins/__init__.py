"""Built-in domain plugins; the core knows them only by name (core/plugins.py)."""
