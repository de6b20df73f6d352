"""``python manage.py export_deals --output deals.jsonl``: every deal, one JSON object per line.

The rows go to ``deals.jsonl.part``, which replaces ``deals.jsonl`` only once the export is
complete: a run that fails or is stopped leaves the previous file as it was.
"""
import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bitrix_fast import Bitrix, BitrixError


class Command(BaseCommand):
    help = "Export every Bitrix24 deal to a JSON Lines file."

    def add_arguments(self, parser):
        parser.add_argument("--output", default="deals.jsonl", help="file to write")

    def handle(self, *args, output, **options):
        if not settings.BITRIX_WEBHOOK:
            raise CommandError("settings.BITRIX_WEBHOOK is not set")
        partial = output + ".part"
        count = 0
        try:
            # The progress bar appears only when stderr is a terminal, never in cron logs.
            with Bitrix(settings.BITRIX_WEBHOOK) as bx, \
                    open(partial, "w", encoding="utf-8") as out:
                for row in bx.iter_all("crm.deal.list"):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    count += 1
                out.flush()
                os.fsync(out.fileno())
        except BitrixError as error:  # names the method and the server's code, not the webhook
            raise CommandError(f"export failed: {error}; {output} is unchanged") from error
        os.replace(partial, output)
        self.stdout.write(f"{count} deals written to {output}")
