"""The cloud portal's fixed limits (limits.md, as rewritten in 2026), for the parts that plan
around them: batch sizing (:mod:`bitrix_fast.pacing.room`) and the mirror's overlap."""
from __future__ import annotations

#: Every request is cut after this many seconds of execution (a proxy answers 504).
REQUEST_CUT = 60.0
#: Rows in a full page of a list method (``IRestService::LIST_LIMIT``).
PAGE_ROWS = 50
#: Modification times (``DATE_MODIFY``, ``updatedTime``) are stamped in whole seconds.
STAMP_GRAIN = 1.0
#: Slack for the clocks of the portal's own servers and the ``server.time`` read a mirror
#: run starts from.
CLOCK_SLACK = 4.0
#: How long before its commit a change may be stamped: the request that makes it cannot
#: outlive the cut, and its stamp is rounded down to a whole second. A mirror that reads
#: changes from its previous run's start less this sees every change that run could not
#: (65 s; it used to assume 300 s, before the cut bounded every request).
CHANGES_OVERLAP = REQUEST_CUT + STAMP_GRAIN + CLOCK_SLACK
