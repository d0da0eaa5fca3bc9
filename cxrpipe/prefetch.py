"""Storage reads kept in flight ahead of the code that consumes them, results in order."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Executor
from typing import Callable, Iterable, Iterator, TypeVar

READ_AHEAD = 8

T = TypeVar("T")


def in_order(pool: Executor, calls: Iterable[Callable[[], T]], ahead: int = READ_AHEAD) -> Iterator[T]:
    """Results of zero-argument ``calls`` in their order, ``ahead`` of them running at a time
    (so a slow store's latency hides behind the consumer's work, and memory stays bounded).

    Raises:
        whatever a call raised, when its result comes up.
    """
    pending: deque = deque()
    for call in calls:
        pending.append(pool.submit(call))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
