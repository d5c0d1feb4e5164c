"""Sources of events: each turns an agent's own format (hooks, transcripts) into trail events."""
