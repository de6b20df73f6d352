"""The smallest settings a management command needs, plus the portal's webhook."""
import os

SECRET_KEY = "example-only"
INSTALLED_APPS = ["deals"]
DATABASES = {}
USE_TZ = True

#: The incoming-webhook URL; keep it out of the code, e.g. in the environment.
BITRIX_WEBHOOK = os.environ.get("BITRIX_WEBHOOK", "")
