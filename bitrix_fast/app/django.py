"""A Django view for an application's event posts (ONAPPINSTALL, ONAPPUNINSTALL, any bound
event)::

    # urls.py
    from bitrix_fast.app.django import event_view
    from myproject.bitrix import app          # an OAuthApp

    urlpatterns = [path("bitrix/events/", event_view(app))]

The view reads the raw body (Django's ``request.POST`` does not nest PHP brackets), hands it
to :meth:`bitrix_fast.OAuthApp.receive` and answers ``200`` (``{"event": ...}``), ``403``
for a post that fails its check (:class:`~bitrix_fast.errors.EventRejected`: nothing was
stored or removed) or ``405`` for anything but POST. ``on_event`` is called with each
accepted event (after install and uninstall have been acted on). Django is imported when
the view is made, never by ``bitrix_fast`` itself.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..errors import EventRejected
from .incoming import IncomingEvent

if TYPE_CHECKING:
    from .oauth_app import OAuthApp

__all__ = ["event_view"]

logger = logging.getLogger("bitrix_fast.app")


def event_view(app: "OAuthApp", *,
               on_event: Optional[Callable[[IncomingEvent], None]] = None,
               confirm: bool = True) -> Callable[..., Any]:
    """A CSRF-exempt Django view that receives the portals' event posts for ``app``."""
    from django.http import HttpResponseNotAllowed, JsonResponse  # type: ignore[import-untyped]
    from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

    def view(request: Any) -> Any:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            event = app.receive(request.body, request.content_type or "", confirm=confirm)
        except EventRejected as error:
            logger.warning("%s", error)
            return JsonResponse({"error": "rejected", "reason": error.reason}, status=403)
        if on_event is not None:
            on_event(event)
        return JsonResponse({"event": event.event, "member_id": event.member_id})

    # Portals post without a CSRF token; the application_token check stands in for it.
    exempt: Callable[..., Any] = csrf_exempt(view)
    return exempt
