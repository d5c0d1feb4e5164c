"""The watcher: one process per working tree that knows what changed, and the socket hooks talk to it over."""
