"""Helpers shared by tests: loopback servers that play outside services."""
