"""Sharing sessions with teammates: through any git remote (remote.py) or as one file, a git bundle (bundle.py)."""
