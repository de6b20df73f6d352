"""How much server time a call costs: the sandbox sleeps this long on its clock, per command.

``delay = per_command + rows*per_row + counted*per_counted_row + skipped*per_skipped_row
+ written*per_written_row``, from the counters the store reports in its ``Outcome``.
The delay is slept outside every lock, shows up in ``time.duration`` / ``processing``, and
is what the operating budget is billed (calls over 0.1 s). A batch sleeps once, for the sum
of its commands, after running them; each command is still billed, timed and checked
against the budget at its own modelled start, so a client that makes the
portal COUNT and OFFSET-scan the whole table on every page runs into 429s exactly as on a
real portal, while one that pages by ID ranges with ``start=-1`` does not. The sandbox's
own SQLite time is not billed: it depends on the machine and on threads queueing for the
database, and would make budgets flaky.

Presets (seconds):

=================  ==========  =========  ==============  ==============  ==============
preset             per_command per_row    per_counted_row per_skipped_row per_written_row
=================  ==========  =========  ==============  ==============  ==============
``none``           0           0          0               0               0
``light``          0.5 ms      20 us      0.05 us         0.1 us          1 ms
``heavy``          5 ms        0.1 ms     20.9 us         5 us            30 ms
``real-small``     5 ms        0.2 ms     1.5 us          3.4 us          25 ms
``real-big``       5 ms        1.84 ms    20.9 us         5 us            55 ms
``real-wide``      5 ms        5.9 ms     1.5 us          3.4 us          95 ms
``x10-latency``    30 ms       0          0               0               20 ms
=================  ==========  =========  ==============  ==============  ==============

``real-small-x10``, ``real-big-x10`` and ``real-wide-x10`` are the ``real-*`` presets with
every figure divided by 10, for the ``x10`` plan (rates x10): a client then meets the same
demand (rate x time per request = requests in flight) as on the real plan, ten times faster.

What one command costs under the latency presets (a page of 50 rows without a count, a
``*.get``, one add or update; a 50-command batch takes 50 times as long):

=================  ============  ========  ========  ==================================
preset             list page     get       write     a batch of 50 pages
=================  ============  ========  ========  ==================================
``real-small``     15 ms         5.2 ms    30 ms     0.75 s
``real-big``       97 ms         6.8 ms    60 ms     4.9 s
``real-wide``      300 ms        10.9 ms   100 ms    15 s
``x10-latency``    30 ms         30 ms     50 ms     1.5 s (50 writes: 2.5 s)
=================  ============  ========  ========  ==================================

Where the numbers come from:

- ``heavy.per_counted_row``: the docs measured ``crm.item.list`` over 2,387,743 leads at
  49.9 s with the COUNT and 0.097 s without it (settings/performance/huge-data.md), i.e.
  (49.9 - 0.097) / 2,387,743 = 20.9 us per counted row. OFFSET skipping walks the same rows
  without the filter bookkeeping; we charge a quarter of that, 5 us. A few ms per command
  matches the ``duration`` of small calls in recorded replies (0.9-10 ms); 0.1 ms per
  returned row keeps a 50-row page near 10 ms; an ``add`` or ``update`` on a cloud portal
  takes tens of ms, hence 30 ms per written row. On ``heavy`` an offset-paged export of
  100k rows costs ~2 s per command near the end: the budget runs out, as users report.
- ``light``: mesilov/bitrix24-php-sdk's benchmark (100k contacts, peer-libraries.md §7)
  took 131.3 s with counting vs 30.9 s without, over 2,000 pages: ~15 ms per 50-row page
  (~0.3 ms per row) and ~50 ms of COUNT + OFFSET per page at an average offset of 50k, i.e.
  ~0.3 us per counted-or-skipped row. ``light`` takes a sixth of the scan figure and a
  fifteenth of the per-row one, so that an offset-paging client such as fast_bitrix24 can
  still export 300k rows on the ``x10`` plan: at offset 300k a command costs
  0.5 ms + 50 x 20 us + 300k x 0.05 us + 300k x 0.1 us = 46.5 ms of modelled time, which
  leaves room for SQLite's own COUNT and OFFSET work below the 0.1 s billing threshold.
  It exists to make costs visible in timings without changing who wins.
- ``none``: the sandbox answers as fast as SQLite and JSON allow (protocol tests).
- ``real-small`` (a portal with tens of thousands of rows): the recorded
  ``crm.lead.list`` export (real_responses/crm_lead_list_several_pages_success.json, 7,531
  leads, offset pages with the count) took 30.1, 40.3 and 47.1 ms per command on average in
  three 50-command batches whose mean offsets were 1,275, 3,775 and 6,275: 3.4 us per
  skipped row (the slope), and ~26 ms per counted page at offset 0, of which the COUNT over
  7,531 rows is ~11 ms (1.5 us per row) and the page itself 15 ms (issue 16's "~15 ms per
  list page"; peer-libraries.md §7's 100k-contact benchmark: 30.9 s for 2,000 pages without
  the count, also ~15 ms). The recorded ``*.get`` commands of a batch took 4.5-6 ms
  (crm_get_batch_mix_success_and_errors.json, call_several_success.json), hence 5 ms per
  command; writes ~30 ms (recorded adds: lists.element.add 17 ms, crm.item.add 44 ms).
- ``real-big`` (millions of rows): the docs' 2,387,743 leads, 0.097 s for a page of 50
  without the count: 5 ms + 50 x 1.84 ms; the COUNT as in ``heavy`` (20.9 us per row, 49.9 s
  for the whole table) and so is the OFFSET (5 us per row, an assumption: nothing published
  measures it); writes 60 ms (issue 16: "an add ~30-100 ms").
- ``real-wide`` (many fields, custom ones included): 300 ms per page, so a batch of 50 pages
  takes 15 s (issue 16: "a standard portal with 15 s batches (heavy selects)"); the recorded
  ``tasks.task.list`` with every field (real_responses/get_all_tasks.json) took 1.37 s per
  page, so wide selects can be slower still. Counting and skipping as ``real-small``; writes
  100 ms (the recorded crm.contact.add: 95 ms).
- ``x10-latency``: exactly the portal of issue 16's benchmark on the ``x10`` plan: a batch of
  50 list commands takes 1.5 s (30 ms each), a batch of 50 adds or updates 2.5 s (50 ms each),
  a ``*.get`` 30 ms; no COUNT or OFFSET cost, so the figures hold for every client.

Pass a :class:`CostModel` for anything else, e.g. ``CostModel(per_command=0.15)`` to spend
a small operating budget quickly in a test.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Optional, Union

from .outcome import Outcome

__all__ = ["CostModel", "PRESETS", "resolve_cost"]


@dataclass(frozen=True)
class CostModel:
    """Seconds of server time per command and per row of each kind (see module docstring)."""

    per_command: float = 0.0
    per_row: float = 0.0
    per_counted_row: float = 0.0
    per_skipped_row: float = 0.0
    per_written_row: float = 0.0

    def delay(self, outcome: Outcome) -> float:
        return (
            self.per_command
            + outcome.rows * self.per_row
            + outcome.counted * self.per_counted_row
            + outcome.skipped * self.per_skipped_row
            + outcome.written * self.per_written_row
        )

    def with_count(self, factor: float) -> "CostModel":
        """The same model with every COUNT ``factor`` times as costly."""
        if factor == 1.0:
            return self
        return replace(self, per_counted_row=self.per_counted_row * factor)

    def scaled(self, factor: float) -> "CostModel":
        """Every figure times ``factor`` (``0.1`` for an ``x10`` plan)."""
        return CostModel(*(value * factor for value in (
            self.per_command, self.per_row, self.per_counted_row, self.per_skipped_row,
            self.per_written_row)))

    @property
    def is_free(self) -> bool:
        return not any(
            (self.per_command, self.per_row, self.per_counted_row, self.per_skipped_row, self.per_written_row)
        )


PRESETS: Dict[str, CostModel] = {
    "none": CostModel(),
    "light": CostModel(
        per_command=0.5e-3,
        per_row=20e-6,
        per_counted_row=0.05e-6,
        per_skipped_row=0.1e-6,
        per_written_row=1e-3,
    ),
    "heavy": CostModel(
        per_command=5e-3,
        per_row=0.1e-3,
        per_counted_row=20.9e-6,
        per_skipped_row=5e-6,
        per_written_row=30e-3,
    ),
    "real-small": CostModel(
        per_command=5e-3,
        per_row=0.2e-3,
        per_counted_row=1.5e-6,
        per_skipped_row=3.4e-6,
        per_written_row=25e-3,
    ),
    "real-big": CostModel(
        per_command=5e-3,
        per_row=1.84e-3,
        per_counted_row=20.9e-6,
        per_skipped_row=5e-6,
        per_written_row=55e-3,
    ),
    "real-wide": CostModel(
        per_command=5e-3,
        per_row=5.9e-3,
        per_counted_row=1.5e-6,
        per_skipped_row=3.4e-6,
        per_written_row=95e-3,
    ),
    "x10-latency": CostModel(per_command=30e-3, per_written_row=20e-3),
}
PRESETS.update({f"{name}-x10": PRESETS[name].scaled(0.1)
                for name in ("real-small", "real-big", "real-wide")})


def resolve_cost(cost: Union[str, CostModel, None]) -> CostModel:
    """A preset name, a :class:`CostModel`, or None (= ``none``)."""
    if cost is None:
        return PRESETS["none"]
    if isinstance(cost, CostModel):
        return cost
    model: Optional[CostModel] = PRESETS.get(str(cost).strip().lower())
    if model is None:
        raise ValueError(f"unknown cost model {cost!r}: use one of {', '.join(PRESETS)} or a CostModel")
    return model
