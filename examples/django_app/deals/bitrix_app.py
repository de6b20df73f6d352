"""The project's OAuth application: one object per process, its tokens in a shared store.

Settings: ``BITRIX_CLIENT_ID``, ``BITRIX_CLIENT_SECRET``, ``BITRIX_TOKEN_STORE`` (an SQLite
file or a PostgreSQL URL every web and worker process can reach) and, for a self-hosted
OAuth server only, ``BITRIX_TOKEN_URL``.
"""
from functools import lru_cache

from django.conf import settings

from bitrix_fast import OAuthApp
from bitrix_fast.net.grant import CLOUD_TOKEN_URL
from bitrix_fast.tokens import SQLTokenStore


@lru_cache(maxsize=None)
def oauth_app():
    return OAuthApp(settings.BITRIX_CLIENT_ID, settings.BITRIX_CLIENT_SECRET,
                    store=SQLTokenStore(settings.BITRIX_TOKEN_STORE),
                    token_url=getattr(settings, "BITRIX_TOKEN_URL", CLOUD_TOKEN_URL))
