"""Everything that records: the SDK, the one writer, redaction, hook entry points, the watcher, `trail record`."""
