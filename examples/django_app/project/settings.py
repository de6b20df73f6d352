"""The smallest settings a management command needs, plus the portal's webhook."""
import os

SECRET_KEY = "example-only"
INSTALLED_APPS = ["deals"]
DATABASES = {}
USE_TZ = True

#: The incoming-webhook URL; keep it out of the code, e.g. in the environment.
BITRIX_WEBHOOK = os.environ.get("BITRIX_WEBHOOK", "")

#: An OAuth application on many portals (deals/bitrix_app.py, project/urls.py).
ROOT_URLCONF = "project.urls"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")
BITRIX_CLIENT_ID = os.environ.get("BITRIX_CLIENT_ID", "")
BITRIX_CLIENT_SECRET = os.environ.get("BITRIX_CLIENT_SECRET", "")
#: Where every web and worker process finds the portals' tokens.
BITRIX_TOKEN_STORE = os.environ.get("BITRIX_TOKEN_STORE", "sqlite:///bitrix_tokens.sqlite")
