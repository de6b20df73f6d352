"""``python manage.py sync_deals``: keep a table of deals in step with the portal.

Run it from cron as often as you like: the first run copies every deal, each later run
costs a few requests and applies only what was added, changed or deleted since. The table
lives in ``settings.BITRIX_MIRROR_DB`` (an SQLite file or a PostgreSQL URL, which may be
your Django database's own server).
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bitrix_fast import Bitrix, BitrixError
from bitrix_fast.mirror import MirrorBusy, MirrorError, sync

FIELDS = ["ID", "TITLE", "STAGE_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID",
          "ASSIGNED_BY_ID", "DATE_CREATE", "DATE_MODIFY", "CLOSED"]


class Command(BaseCommand):
    help = "Keep a database table of Bitrix24 deals in step with the portal."

    def add_arguments(self, parser):
        parser.add_argument("--db", default=None,
                            help="database URL (default: settings.BITRIX_MIRROR_DB)")
        parser.add_argument("--wait", type=float, default=0.0,
                            help="seconds to wait for a run that is still going")

    def handle(self, *args, db, wait, **options):
        if not settings.BITRIX_WEBHOOK:
            raise CommandError("settings.BITRIX_WEBHOOK is not set")
        db = db or getattr(settings, "BITRIX_MIRROR_DB", "sqlite:///crm.sqlite")
        try:
            with Bitrix(settings.BITRIX_WEBHOOK) as bx:
                result = sync(bx, "crm.deal.list", db, select=FIELDS, wait=wait)
        except MirrorBusy as error:  # the previous cron run is still going: not a failure
            self.stderr.write(str(error))
            return
        except (BitrixError, MirrorError) as error:  # no webhook code in either message
            raise CommandError(f"sync failed: {error}") from error
        self.stdout.write(result.summary())
