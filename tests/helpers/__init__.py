"""Helpers the tests share: the sandbox Asterisk, test sites, the labs that place real
calls, the controller harness. Fixtures stay in tests/conftest.py."""
