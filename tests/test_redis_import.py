"""``bitrix_fast.pacing.shared`` is optional: bitrix_fast imports without redis-py, and the module
itself says how to install it. Subprocesses, so this interpreter's modules stay untouched."""
from __future__ import annotations

import subprocess
import sys

# ``sys.modules["redis"] = None`` makes ``import redis`` fail as if it were not installed.
WITHOUT_REDIS = "import sys; sys.modules['redis'] = None\n"


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_bitrix_fast_imports_without_redis():
    result = run(WITHOUT_REDIS + "import bitrix_fast; from bitrix_fast import Bitrix; "
                 "assert 'redis' not in [m.split('.')[-1] for m in sys.modules if "
                 "sys.modules[m] is not None and m.startswith('bitrix_fast')]; print('ok')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_bitrix_fast_redis_without_redis_says_how_to_install():
    result = run(WITHOUT_REDIS + "from bitrix_fast.pacing.shared import RedisLimiter")
    assert result.returncode == 1
    assert "ImportError: bitrix_fast.pacing.shared needs the redis package: " \
           "pip install 'bitrix_fast[redis]'" in result.stderr


def test_the_module_does_not_shadow_redis_py():
    result = run("import redis, bitrix_fast.pacing.shared.connection as c, bitrix_fast.pacing.shared as b\n"
                 "assert c.redis is redis and b is not redis and hasattr(redis, 'Redis')\n"
                 "assert 'bitrix_fast' not in redis.__file__\n"
                 "print(redis.__file__)")
    assert result.returncode == 0, result.stderr
