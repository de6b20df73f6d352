"""``python -m bitrix_fast.cli ...``: the same as ``bitrix-fast ...``."""
import sys

from .main import main

sys.exit(main())
