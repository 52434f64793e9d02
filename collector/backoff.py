"""Exponential backoff with full jitter, for reconnecting to the source and to Kafka."""

from __future__ import annotations

import random


class Backoff:
    """Delays grow as initial * factor**n up to maximum; each is drawn uniformly from
    [delay/2, delay] so many clients restarting together do not reconnect in step."""

    def __init__(self, initial_s: float = 0.5, maximum_s: float = 30.0, factor: float = 2.0,
                 rng: random.Random | None = None) -> None:
        if initial_s <= 0 or maximum_s < initial_s or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial_s, self.maximum_s, self.factor = initial_s, maximum_s, factor
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum_s, self.initial_s * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0
