"""A creation shared by concurrent callers: the first creates, the others await its future.

Pipes are made once per pair of routers (or per producer and router) however many callers ask at
the same moment; these helpers settle that shared future the same way everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def fail(pending: asyncio.Future[Any], error: BaseException) -> None:
    """Settle ``pending`` with the creator's failure: a cancelled creator cancels it; an error is
    marked retrieved, since each waiting caller re-raises it itself (no "never retrieved" log)."""
    if isinstance(error, asyncio.CancelledError):
        pending.cancel()
    else:
        pending.set_exception(error)
        pending.exception()


def succeeded(pending: asyncio.Future[Any]) -> bool:
    """Done with a result (not pending, cancelled or failed)."""
    return pending.done() and not pending.cancelled() and pending.exception() is None


def once(release: Callable[[], None]) -> Callable[[], None]:
    """``release`` that runs on its first call only: a holder may be released by several paths
    (its consumer's close, an error) and must count once."""
    released = False

    def release_once() -> None:
        nonlocal released
        if not released:
            released = True
            release()

    return release_once
