"""Progress bars: a tqdm bar on an interactive terminal, nothing in cron logs.

The engine and plans only call ``update(count, total)``, once per reply; this adapter decides
whether anything is drawn. ``progress=None`` (the default) draws when ``verbose`` is on and
stderr is a TTY, ``True`` / ``False`` force it, and a callable ``(description, total) -> bar``
supplies your own bar (anything with ``update(n)``, ``close()`` and a writable ``total``).

The bar is one line of at most 80 columns, and its rate and ETA are the *sustained* ones.
A portal admits its first ``burst`` requests (50 on a standard plan) at once and then a
couple per second, so the first replies arrive 10-50 times faster than the rest: a rate
measured over them (tqdm's own) promises an export of 300,000 rows in 6 s that takes a
minute. :class:`SustainedRate` ignores the burst's replies and measures the rate over a
sliding window after it; until it has a measurement the bar shows ``?``. A job that ends
within its burst never needs an ETA.
"""
from __future__ import annotations

import shutil
import sys
import time
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple, Union

ProgressSetting = Union[None, bool, Callable[[str, Optional[int]], Any]]

#: Replies that arrive at burst speed on a standard plan (its bucket admits 50 at once).
DEFAULT_BURST = 50
#: The widest line the bar draws.
MAX_COLUMNS = 80


class SustainedRate:
    """Items per second once the first ``burst`` replies are over, over the last ``window``
    seconds; sans-I/O (the caller passes the time)."""

    def __init__(self, *, burst: int = DEFAULT_BURST, window: float = 30.0,
                 min_replies: int = 3) -> None:
        self._burst = max(0, int(burst))
        self._window = window
        self._min_replies = min_replies
        self._replies = 0
        self._count = 0
        self._samples: Deque[Tuple[float, int]] = deque()

    def record(self, now: float, count: int) -> None:
        """One reply that brought ``count`` items, at time ``now``."""
        self._replies += 1
        self._count += count
        if self._replies < self._burst:
            return
        # The reply that ends the burst is the origin: only what comes after it counts.
        self._samples.append((now, self._count))
        while (len(self._samples) > self._min_replies + 1
               and now - self._samples[1][0] >= self._window):
            self._samples.popleft()

    def per_second(self) -> Optional[float]:
        if len(self._samples) < self._min_replies + 1:
            return None
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        if end <= start:
            return None
        return (last - first) / (end - start)

    def eta(self, remaining: float) -> Optional[float]:
        """Seconds until ``remaining`` more items have arrived, or None while unknown."""
        rate = self.per_second()
        if rate is None or rate <= 0:
            return None
        return max(0.0, remaining) / rate


class Progress:
    """A running count with an optional bar behind it."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar
        self.count = 0

    def update(self, count: int, total: Optional[int] = None) -> None:
        self.count += count
        bar = self._bar
        if bar is None:
            return
        if total is not None and getattr(bar, "total", None) != total:
            bar.total = max(total, self.count)
            refresh = getattr(bar, "refresh", None)
            if refresh is not None:
                refresh()
        bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_progress(setting: ProgressSetting, verbose: bool, description: str,
                  total: Optional[int] = None, unit: str = "rows", *,
                  burst: int = DEFAULT_BURST) -> Progress:
    """``burst``: the replies the portal admits at once (the bucket's size), whose speed the
    ETA must not be taken from."""
    if callable(setting) and not isinstance(setting, bool):
        return Progress(setting(description, total))
    draw = setting if isinstance(setting, bool) else (verbose and interactive())
    if not draw:
        return Progress()
    return Progress(make_bar(description, total, unit, burst=burst))


def make_bar(description: str, total: Optional[int], unit: str = "rows", *,
             burst: int = DEFAULT_BURST, clock: Callable[[], float] = time.monotonic,
             file: Any = None, columns: Optional[int] = None, **options: Any) -> Any:
    """A tqdm bar of one line of at most :data:`MAX_COLUMNS` columns whose rate and ETA come
    from :class:`SustainedRate`. ``clock`` times the replies (a fake one in tests)."""
    from tqdm.auto import tqdm  # a widget in a notebook, text on a terminal

    notebook = "ipykernel" in sys.modules

    class Bar(tqdm):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.sustained = SustainedRate(burst=burst)  # before tqdm's first draw
            super().__init__(*args, **kwargs)

        @property
        def format_dict(self) -> Any:
            values = super().format_dict
            rate = self.sustained.per_second()
            total = values.get("total")
            eta = self.sustained.eta(total - values["n"]) if total else None
            values["rate_text"] = ("?" if rate is None else
                                   f"{tqdm.format_sizeof(rate)}{values['unit']}/s")
            values["eta_text"] = "?" if eta is None else tqdm.format_interval(eta)
            values["bar_format"] = _FORMAT if total else _FORMAT_NO_TOTAL
            return values

        def update(self, n: Optional[float] = 1) -> Optional[bool]:
            self.sustained.record(clock(), int(n or 0))
            updated: Optional[bool] = super().update(n)
            return updated

    if not notebook:
        width = columns if columns is not None else shutil.get_terminal_size().columns
        options["ncols"] = max(20, min(MAX_COLUMNS, width))
    return Bar(total=total, desc=description, unit=unit, unit_scale=True, leave=False,
               file=file or sys.stderr, **options)


_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{eta_text}, {rate_text}]"
_FORMAT_NO_TOTAL = "{desc}: {n_fmt} {unit} [{elapsed}, {rate_text}]"


def interactive() -> bool:
    """Whether a bar can be seen: stderr is a terminal, or this is a notebook."""
    if "ipykernel" in sys.modules:  # a notebook: tqdm.auto draws a widget there
        return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False
