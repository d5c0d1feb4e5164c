"""Installers of the hooks that report to trail, one module per agent."""
