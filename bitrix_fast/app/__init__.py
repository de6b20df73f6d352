"""An OAuth application on many portals: tokens in a shared store, install and uninstall
posts, offline events.

OAuthApp        the application: ``save``, ``client(member_id, **kwargs)``, ``portals()``,
                ``receive(post)`` (install, uninstall, checked events), ``events(member_id)``
Portal          a portal as the store knows it (no tokens)
IncomingEvent   an event post, read (:mod:`.incoming`)
OfflineEvents   a portal's offline event queue, read without losing an event (:mod:`.offline`)
event_view      a Django view for the posts (:mod:`.django`, imports Django when called)
"""
from __future__ import annotations

from .incoming import IncomingEvent, parse_event
from .oauth_app import OAuthApp, Portal
from .offline import EventBatch, OfflineEvent, OfflineEvents

__all__ = ["EventBatch", "IncomingEvent", "OAuthApp", "OfflineEvent", "OfflineEvents",
           "Portal", "parse_event"]
