"""The URL the portals post their events to: ``https://<your site>/bitrix/events/``, given
as the application's install handler and event handler."""
from django.urls import path

from bitrix_fast.app.django import event_view
from deals.bitrix_app import oauth_app

urlpatterns = [
    path("bitrix/events/", event_view(oauth_app())),
]
