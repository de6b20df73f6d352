"""What every subcommand shares: the webhook, the rate flags, and how a failure becomes one
line on stderr and an exit code.

Exit codes, the same for every subcommand:

====  ==================================================================================
0     done
1     a local write failed part-way (disk full, output pipe closed)
2     usage: bad arguments, no webhook, a file that cannot be read or opened; nothing was sent
3     the portal: an API, auth or transport error; for ``call``, any item failed or is in doubt
130   interrupted (Ctrl+C or SIGTERM); what was written so far is flushed, so ``--resume`` can
      go on
====  ==================================================================================

Error messages are one line, ``bitrix-fast <command>: <method>: <CODE> (<status>) <text>``.
The library already keeps webhook codes out of its messages; :func:`redact` does it once more
here, because a CLI's stderr ends up in cron mails and CI logs.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from ..errors import BitrixError

EXIT_OK = 0
EXIT_IO = 1
EXIT_USAGE = 2
EXIT_PORTAL = 3
EXIT_INTERRUPTED = 130

#: The portal's published limits per plan: (request_pool_size, requests_per_second).
PLANS = {"standard": (50, 2.0), "enterprise": (250, 5.0)}
WEBHOOK_ENV = "BITRIX_WEBHOOK"


class UsageError(Exception):
    """A mistake found before anything was sent; exits 2 with this message."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--webhook``, the plan and rate flags, ``--quiet``."""
    add = parser.add_argument
    add("--webhook", metavar="URL",
        help=f"incoming-webhook URL (default: ${WEBHOOK_ENV})")
    add("--plan", choices=sorted(PLANS), default=None,
        help="the portal's plan: standard = 50 burst, 2 req/s (default); enterprise = 250, 5 req/s")
    add("--requests-per-second", type=positive_float, metavar="R",
        help="override the plan's sustained request rate")
    add("--request-pool-size", type=positive_int, metavar="B",
        help="override the plan's burst (requests admitted at once)")
    add("--retries", type=_non_negative_int, metavar="N",
        help="times a failed request is retried (default 8: about a minute of trouble "
             "is ridden out; 0 fails at once)")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", metavar="FILE",
                     help="trust the certificate authorities in FILE (PEM), e.g. a "
                          "self-hosted portal's own CA")
    tls.add_argument("--no-verify-ssl", action="store_true",
                     help="do not check the portal's certificate (insecure)")
    add("--quiet", action="store_true", help="no progress bar and no summary on stderr")


def ssl_setting(args: argparse.Namespace) -> Union[bool, str]:
    """The client's ``ssl=``: True, False (``--no-verify-ssl``) or a CA bundle path."""
    bundle: Optional[str] = getattr(args, "ca_bundle", None)
    if bundle:
        if not os.path.isfile(bundle) or not os.access(bundle, os.R_OK):
            raise UsageError(f"--ca-bundle {bundle}: no such readable file")
        return bundle
    return not bool(getattr(args, "no_verify_ssl", False))


def resolve_webhook(args: argparse.Namespace) -> str:
    webhook = (args.webhook or os.environ.get(WEBHOOK_ENV) or "").strip()
    if not webhook:
        raise UsageError(f"no webhook: pass --webhook URL or set {WEBHOOK_ENV}")
    return webhook


def webhook_hint(args: argparse.Namespace) -> Optional[str]:
    """The webhook these flags name, if any, for redacting messages (never raises)."""
    return getattr(args, "webhook", None) or os.environ.get(WEBHOOK_ENV)


def rate_settings(args: argparse.Namespace) -> Tuple[int, float]:
    """(request_pool_size, requests_per_second): the plan's preset, explicit flags on top."""
    pool, rate = PLANS[args.plan or "standard"]
    if args.request_pool_size is not None:
        pool = args.request_pool_size
    if args.requests_per_second is not None:
        rate = args.requests_per_second
    return pool, rate


def make_client(args: argparse.Namespace, webhook: str, progress: Any = None) -> Any:
    """A :class:`~bitrix_fast.Bitrix` for these flags, from one checked configuration.
    ``progress`` None draws the library's own bar on a terminal (unless ``--quiet``)."""
    from ..client import Bitrix
    from ..config import ClientConfig

    pool, rate = rate_settings(args)
    ssl = ssl_setting(args)
    if ssl is False:
        # Asked for: urllib3's warning on every request would bury the one line we print.
        import urllib3

        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    try:
        config = ClientConfig.build(webhook, verbose=not args.quiet, request_pool_size=pool,
                                    requests_per_second=rate, retry=args.retries, ssl=ssl,
                                    progress=False if args.quiet else progress)
        return Bitrix.from_config(config)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None


def secrets_of(webhook: Optional[str]) -> List[str]:
    """The parts of a webhook URL that must never be printed: the code after the user ID."""
    if not webhook:
        return []
    try:
        segments = [s for s in urlsplit(webhook).path.split("/") if s]
    except ValueError:
        return [webhook]
    if "rest" in segments:
        after = segments[segments.index("rest") + 1:]
        return [s for s in after[1:] if len(s) >= 4]
    return []


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def plural(count: int, noun: str, nouns: Optional[str] = None) -> str:
    """``1 row``, ``2,500 rows``."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


#: Batch labels (``[c0003]``, ``[p0000]``, ``[head]``) name our requests, not the user's items.
_LABEL = re.compile(r" \[(?:[a-z]+\d+|head)\]")
#: The library's SSL hint speaks of ``ssl=`` (in parentheses, or as a last ``; ...`` clause);
#: on a command line the flags are what count.
_LIBRARY_SSL_HINT = re.compile(r"\s*\([^()]*\bssl=[^()]*\)|;\s*[^;()]*\bssl=[^;()]*$")
SSL_HINT = ("the portal's certificate is not trusted here: for a portal with its own "
            "certificate authority pass --ca-bundle FILE; --no-verify-ssl turns the check off")


def error_message(method: str, error: BaseException) -> str:
    """``<method>: <error>``, naming the method the user asked for even when the failing
    request was the ``batch`` that carried it."""
    text = one_line(str(error)) or type(error).__name__
    text = _LABEL.sub("", text)
    text = _LIBRARY_SSL_HINT.sub("", text)
    if method and not text.startswith(f"{method}:"):
        text = f"{method}: {text}"
    # Only a certificate problem is cured by these flags (not, say, https:// to an http port).
    if "certificate" in text.lower():
        text = f"{text} ({SSL_HINT})"
    return text


@contextmanager
def signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``handler`` for the block (main thread only; elsewhere
    Python delivers no signals anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def say(prog: str, message: str, webhook: Optional[str] = None) -> None:
    """Print one line to stderr, with any webhook secret replaced by ``***``."""
    line = redact(one_line(message), secrets_of(webhook))
    print(f"bitrix-fast {prog}: {line}", file=sys.stderr, flush=True)


def guarded(prog: str, body: Callable[[], int], *, method: str = "",
            webhook: Callable[[], Optional[str]] = lambda: None) -> int:
    """Run ``body`` and turn what escapes it into an exit code and one line on stderr."""
    try:
        return body()
    except UsageError as error:
        say(prog, str(error), webhook())
        return EXIT_USAGE
    except BitrixError as error:
        say(prog, error_message(method, error), webhook())
        return EXIT_PORTAL
    except KeyboardInterrupt:
        say(prog, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python from complaining
        # again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_IO
    except OSError as error:
        say(prog, f"write failed: {error}", webhook())
        return EXIT_IO


def _number(kind: Callable[[str], Any], *, zero: bool, what: str = "a number"
            ) -> Callable[[str], Any]:
    """An argparse type: ``kind`` of the text, > 0 (or >= 0 with ``zero``)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"must be {'>=' if zero else '>'} 0: {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


positive_int = _number(int, zero=False)
positive_float = _number(float, zero=False)
_non_negative_int = _number(int, zero=True, what="a whole number")
seconds = _number(float, zero=True, what="a number of seconds")


def add_listing_arguments(parser: argparse.ArgumentParser, select_help: str,
                          params_example: str) -> None:
    """The list call's own arguments, alike for every command that reads a listing."""
    add = parser.add_argument
    add("method", metavar="METHOD", help="a list method, e.g. crm.deal.list")
    add("--select", metavar="F1,F2,...", help=select_help)
    add("--filter", action="append", default=[], metavar="[OP]FIELD=VALUE",
        help="a filter entry; repeat for more (all must hold)")
    add("--params", metavar="JSON", help="other parameters as a JSON object, e.g. "
                                         f"'{params_example}' for crm.item.list")
