"""Progress bars: a tqdm bar on an interactive terminal, nothing in cron logs.

The engine and plans only call ``update(count, total)``; this adapter decides whether anything
is drawn. ``progress=None`` (the default) draws when ``verbose`` is on and stderr is a TTY,
``True`` / ``False`` force it, and a callable ``(description, total) -> bar`` supplies your
own bar (anything with ``update(n)``, ``close()`` and a writable ``total``).
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional, Union

ProgressSetting = Union[None, bool, Callable[[str, Optional[int]], Any]]


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
                  total: Optional[int] = None, unit: str = "rows") -> Progress:
    if callable(setting) and not isinstance(setting, bool):
        return Progress(setting(description, total))
    draw = setting if isinstance(setting, bool) else (verbose and _interactive())
    if not draw:
        return Progress()
    from tqdm.auto import tqdm

    return Progress(tqdm(total=total, desc=description, unit=unit, unit_scale=True,
                         leave=False, dynamic_ncols=True, file=sys.stderr))


def _interactive() -> bool:
    if "ipykernel" in sys.modules:  # a notebook: tqdm.auto draws a widget there
        return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False
