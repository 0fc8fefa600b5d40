"""What the benchmarks share: the `figure:` lines anyone greps, and the median timer behind them."""
from __future__ import annotations

import operator
import statistics
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

COMPARISONS = {">=": operator.ge, "<=": operator.le, "=": operator.eq}
Key = TypeVar("Key", bound=Hashable)


def shown(value: float) -> str:
    """A figure's value as people read it: 180, 3.1, 0.987; a count as itself."""
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def figure(name: str, value: float | None, op: str, target: float) -> bool:
    """Print `figure: name = value (target op target) ok|short` and return whether the target holds.

    A value of None is a figure that could not be measured: it prints as `missing` and is short.
    """
    ok = value is not None and COMPARISONS[op](value, target)
    text = "missing" if value is None else shown(value)
    print(f"figure: {name} = {text} (target {op} {target:g}) {'ok' if ok else 'short'}", flush=True)
    return ok


def median_seconds(runs: dict[Key, Callable[[], object]], repeat: int, warmup: int = 1) -> dict[Key, float]:
    """The median wall time of each run() over `repeat` timed calls, after `warmup` untimed ones.

    The runs take turns, round by round, so a machine that speeds up or slows down meanwhile bends them all alike.
    """
    times: dict[Key, list[float]] = {name: [] for name in runs}
    for round_ in range(warmup + repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(spent) for name, spent in times.items()}


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """The median wall time of one function in milliseconds (see median_seconds)."""
    return median_seconds({"run": fn}, repeat, warmup)["run"] * 1000
