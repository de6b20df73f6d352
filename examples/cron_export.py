#!/usr/bin/env python
"""Export every deal to a JSON Lines file; meant to be run by cron.

    # crontab: every night at 03:00
    0 3 * * * BITRIX_WEBHOOK=https://example.bitrix24.ru/rest/1/xxxx/ /usr/bin/python3 /opt/jobs/cron_export.py /data/deals.jsonl

The webhook comes from the environment, never from the command line (which other users
can see in ``ps``). Log lines go to stderr, which cron mails on failure; the exit status is
non-zero when anything went wrong. The file is written as ``deals.jsonl.part`` and renamed
over ``deals.jsonl`` only when the export is complete, so whoever reads ``deals.jsonl`` never
sees half an export, and a failed or killed run leaves yesterday's file as it was.
"""
import json
import logging
import os
import sys

from bitrix_fast import Bitrix, BitrixError

log = logging.getLogger("cron_export")


def export(webhook: str, path: str) -> int:
    partial = path + ".part"
    # verbose=False: no progress bar in a cron log.
    with Bitrix(webhook, verbose=False) as bx, open(partial, "w", encoding="utf-8") as out:
        count = 0
        for row in bx.iter_all("crm.deal.list", {"select": ["*", "UF_*"]}):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        # On disk before the rename, so a crash right after it cannot leave an empty file.
        out.flush()
        os.fsync(out.fileno())
        stats = bx.stats()
    # Only now, complete, does the export take the old file's place.
    os.replace(partial, path)
    log.info("%d deals written to %s (%d requests, %d refused)", count, path,
             stats["requests"], stats["refused_503"] + stats["refused_429"])
    return count


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    webhook = os.environ.get("BITRIX_WEBHOOK")
    if not webhook:
        log.error("BITRIX_WEBHOOK is not set")
        return 2
    path = sys.argv[1] if len(sys.argv) > 1 else "deals.jsonl"
    try:
        export(webhook, path)
    except BitrixError as error:  # its message names the method and code, not the webhook
        log.error("export failed: %s", error)
        return 1
    except OSError as error:
        log.error("cannot write %s: %s", path, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
