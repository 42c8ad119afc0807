"""The writer's data keys: unwrapped once, kept in a bounded LRU, created for subjects seen for the first time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

from ledger.crypto.sealing import new_data_key, unwrap_key, wrap_key

DATA_KEY_CACHE = 50_000

WrappedKeys = Callable[[list[str]], Mapping[str, bytes | None]]  # subject -> wrapped key, None if erased


class DataKeys:
    """Data keys by subject, for one writer.

    Keys already unwrapped are taken from the cache without a query: an erasure destroys a key in the transaction
    that records it, which moves the log head, so a writer that cached the key fails its next commit on the head.
    The writer clears this cache whenever it reloads the head, for that reason or any other (a failed batch, a
    restart), so no batch is placed with a key older than the head it commits on.
    """

    def __init__(self, master_key: bytes, *, limit: int = DATA_KEY_CACHE) -> None:
        self._master_key = master_key
        self._limit = limit
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    def for_subjects(self, subjects: Iterable[str], wrapped_keys: WrappedKeys
                     ) -> tuple[dict[str, bytes | None], dict[str, bytes]]:
        """Data keys for ``subjects`` (None if erased), and wrapped keys created for subjects that had none."""
        keys: dict[str, bytes | None] = {}
        new: dict[str, bytes] = {}
        unknown = []
        for subject in subjects:
            cached = self._cache.get(subject)
            if cached is None:
                unknown.append(subject)
            else:
                self._cache.move_to_end(subject)
                keys[subject] = cached
        if not unknown:
            return keys, new
        wrapped = wrapped_keys(sorted(unknown))
        for subject in unknown:
            if subject not in wrapped:
                data_key = new_data_key()
                keys[subject] = data_key
                new[subject] = wrap_key(master_key=self._master_key, subject=subject, data_key=data_key)
                continue
            found = wrapped[subject]
            if found is None:
                keys[subject] = None
            else:
                keys[subject] = self.remember(
                    subject, unwrap_key(master_key=self._master_key, subject=subject, wrapped=found))
        return keys, new

    def remember(self, subject: str, data_key: bytes) -> bytes:
        self._cache[subject] = data_key
        self._cache.move_to_end(subject)
        while len(self._cache) > self._limit:
            self._cache.popitem(last=False)
        return data_key

    def forget(self, subject: str) -> None:
        self._cache.pop(subject, None)

    def clear(self) -> None:
        self._cache.clear()
