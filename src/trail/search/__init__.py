"""Search across every session: an SQLite FTS5 index derived from the session refs (index.py), and what of a step
is searchable (text.py)."""
