"""The stand-in's one refusal type, shared by Front50/Orca (state.py) and clouddriver (clouddriver_accounts.py)."""

from __future__ import annotations


class Rejected(Exception):
    """A refusal by Front50/Orca/clouddriver; `status` is what Gate answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
