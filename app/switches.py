"""Switches that hold in one context only (a thread, a request, a task): context variables.

``switched(var, value)`` sets ``var`` for the block and puts it back after, whatever
happens. Used by ``audit.disabled()``, ``notifications.suppressed()`` and the tenancy
bindings; nothing process-wide is flipped, so another thread never sees it.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar


@contextlib.contextmanager
def switched(var: ContextVar, value):
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
