"""Run the numeric entry points with a single BLAS thread.

Inside PostgreSQL every backend is its own process, so BLAS threads only compete with other backends for
the same cores; and the products here (at most 2,000 x 1,664 mat-vecs) are too small to gain from threads.
Measured on a busy 2-core machine, OpenBLAS's default threads made train_with_labels 10-20x slower
(540 ms instead of 22 ms for 2,000 labels), spinning while the other core was taken.
threadpoolctl ships with scikit-learn (Debian's python3-sklearn depends on it); without it this is a no-op.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - depends on the server's packages
    threadpool_limits = None

P = ParamSpec("P")
R = TypeVar("R")


def single_threaded_blas(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if threadpool_limits is None:
            return func(*args, **kwargs)
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper
