"""Ways of showing recorded sessions: plain text for the terminal (more to come: HTML replay, web UI)."""
