"""Ways of showing recorded sessions: text for the terminal, the HTML replay, the web UI, and Markdown."""
