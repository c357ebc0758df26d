"""A tenancy scope: staff (every client), or one client user with a membership role."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    is_staff: bool
    client_id: int | None = None  # set for client users; None for staff or nobody
    user_id: int | None = None
    member_role: str | None = None  # owner / admin / member / viewer (client users)

    @property
    def is_client(self) -> bool:
        return not self.is_staff and self.client_id is not None


NOBODY = Scope(is_staff=False)
SYSTEM = Scope(is_staff=True)  # jobs and the CLI: every client's rows, on the system's behalf
