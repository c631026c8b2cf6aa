"""A cache whose entries are built once each, under a lock per key (no lock held across
keys while one builds), for things that are slow to build and never change: a registered
version's loaded model (``core.registry.load_model``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class OncePerKey(Generic[K, V]):
    """``get(key, build)`` builds a missing entry once: callers of the same key wait for that
    build and share its result; a caller of another key is never held up by it. A build
    that raises stores nothing, and the next caller of that key tries again."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._building: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()  # guards the two dicts only, never held in a build

    def get(self, key: K, build: Callable[[], V]) -> V:
        """The entry for ``key``, built with ``build`` if there is none yet.

        Raises:
            Whatever ``build`` raises (nothing is stored then).
        """
        with self._lock:
            if key in self._values:
                return self._values[key]
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:  # built while this caller waited
                    return self._values[key]
            value = build()
            with self._lock:
                self._values[key] = value
                self._building.pop(key, None)
            return value

    def __iter__(self) -> Iterator[K]:
        """The keys built so far (a snapshot)."""
        with self._lock:
            return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)
