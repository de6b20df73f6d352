"""``python manage.py sync_deals``: keep typed tables of Bitrix24 CRM data in step with the
portal, for reports and BI tools (Metabase, Superset) pointed at the same database.

Run it from cron as often as you like: the first run copies every deal (with its product
rows, and the dictionaries of stage names, pipelines, users and currencies), each later run
costs a few requests and applies only what was added, changed or deleted since.
``--all-crm`` keeps every CRM table in one run instead -- deals, leads, contacts, companies,
quotes and every smart process -- through one client, one table at a time, one summary line
each. The tables live in ``settings.BITRIX_MIRROR_DB`` (an SQLite file or a PostgreSQL URL,
which may be your Django database's own server).
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bitrix_fast import Bitrix, BitrixError
from bitrix_fast.mirror import MirrorBusy, MirrorError, sync
from bitrix_fast.mirror.crm import sync_all

FIELDS = ["ID", "TITLE", "STAGE_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID",
          "ASSIGNED_BY_ID", "DATE_CREATE", "DATE_MODIFY", "CLOSED", "UF_*"]


class Command(BaseCommand):
    help = "Keep typed tables of Bitrix24 deals (or, with --all-crm, the whole CRM) in step."

    def add_arguments(self, parser):
        parser.add_argument("--db", default=None,
                            help="database URL (default: settings.BITRIX_MIRROR_DB)")
        parser.add_argument("--wait", type=float, default=0.0,
                            help="seconds to wait for a run that is still going")
        parser.add_argument("--all-crm", action="store_true",
                            help="every CRM table, smart processes and product rows included")

    def handle(self, *args, db, wait, all_crm, **options):
        if not settings.BITRIX_WEBHOOK:
            raise CommandError("settings.BITRIX_WEBHOOK is not set")
        db = db or getattr(settings, "BITRIX_MIRROR_DB", "sqlite:///crm.sqlite")
        try:
            with Bitrix(settings.BITRIX_WEBHOOK, verbose=False) as bx:
                if all_crm:
                    result = sync_all(bx, db, wait=wait)
                    lines, failed = result.lines(), result.failures
                else:
                    one = sync(bx, "crm.deal.list", db, select=FIELDS, wait=wait,
                               product_rows=True)
                    lines, failed = one.lines(), []
        except MirrorBusy as error:  # the previous cron run is still going: not a failure
            self.stderr.write(str(error))
            return
        except (BitrixError, MirrorError) as error:  # no webhook code in either message
            raise CommandError(f"sync failed: {error}") from error
        for line in lines:
            self.stdout.write(line)
        if any(f.kind != "busy" for f in failed):
            raise CommandError(f"{len(failed)} tables not in step (see above)")
