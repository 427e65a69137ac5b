"""pbxctl: one site YAML, generated PBX configuration, and the services that run a call center beside it."""

__version__ = "0.1.0"
