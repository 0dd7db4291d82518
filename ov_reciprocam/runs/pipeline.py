"""Stages that run at once, in order, with a bound on the work in flight: memory stays flat however many items.

`ordered` runs one stage in a thread pool ahead of its consumer; `then` hands what a future brings to the next
stage's pool; `in_order` yields what a stream of futures brings, in the order they were made. OpenCV's decoders
and encoders, numpy and OpenVINO release the GIL, so threads are enough to keep the cores busy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered(pool: Executor, work: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """`work(item)` for each of `items`, run in `pool`, yielded in the order of `items`; at most `ahead` are
    submitted and not yet yielded."""
    return in_order((pool.submit(work, item) for item in items), ahead)


def then(first: Future[T], pool: Executor, work: Callable[[T], R]) -> Future[R]:
    """`work(result of first)`, run in `pool` once `first` is done; an exception in either reaches the future."""
    done: Future[R] = Future()

    def run(value: T) -> None:
        try:
            done.set_result(work(value))
        except BaseException as exc:  # the future carries it to whoever waits on it
            done.set_exception(exc)

    def hand_on(finished: Future[T]) -> None:
        try:
            pool.submit(run, finished.result())
        except BaseException as exc:  # `first` failed, or the pool was shut down
            done.set_exception(exc)

    first.add_done_callback(hand_on)
    return done


def finished(value: T) -> Future[T]:
    """A future that is already done, for a step with nothing to wait for."""
    done: Future[T] = Future()
    done.set_result(value)
    return done


def in_order(futures: Iterable[Future[R]], limit: int) -> Iterator[R]:
    """What each of `futures` brings, in the order they come; the next one is taken only while fewer than `limit`
    wait, so that whoever makes them is held back."""
    waiting: deque[Future[R]] = deque()
    for future in futures:
        waiting.append(future)
        while waiting and (len(waiting) >= limit or waiting[0].done()):
            yield waiting.popleft().result()
    while waiting:
        yield waiting.popleft().result()
