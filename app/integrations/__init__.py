"""Adapters to the outside world (SPEC §7): real network clients with small, plain
interfaces (HTTP uptime checks, TLS handshakes, RDAP, ad platforms, mail ...).

Adapters take and return plain values, hold no business rules and never touch the
database; ``app.services`` decides what their answers change.
"""
