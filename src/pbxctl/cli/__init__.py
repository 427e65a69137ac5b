"""The `pbxctl` command line: `cli/app.py` holds the root command, one module per group."""

from pbxctl.cli.app import app, main

__all__ = ["app", "main"]
