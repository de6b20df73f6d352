"""``python manage.py portal_deals``: count the open deals of every portal the application is
installed on -- from any worker process; tokens are refreshed through the shared store, once
per expiry whatever the number of workers."""
from django.core.management.base import BaseCommand

from bitrix_fast import BitrixError
from deals.bitrix_app import oauth_app


class Command(BaseCommand):
    help = "Count the open deals of every portal the application is installed on."

    def handle(self, *args, **options):
        app = oauth_app()
        for portal in app.portals():
            if portal.dead:
                self.stderr.write(f"{portal.domain}: {portal.dead} (install the app again)")
                continue
            try:
                with app.client(portal.member_id, verbose=False) as bx:
                    deals = bx.get_all("crm.deal.list", {"select": ["ID"],
                                                         "filter": {"CLOSED": "N"}})
            except BitrixError as error:  # one portal's trouble does not stop the others
                self.stderr.write(f"{portal.domain}: {error}")
                continue
            self.stdout.write(f"{portal.domain}: {len(deals)} open deals")
