"""A user's script, type-checked by tests/test_typing.py: the public API used correctly.

mypy must accept it without a single error (see ``wrong_script.py`` for the other half).
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List, Optional

from bitrix_fast import (ApiError, BatchError, Bitrix, BitrixAsync, BitrixError, OAuthRefresher, Redirected,
    RetryExhausted)
from bitrix_fast.run.retry import Retry


def export(webhook: str) -> List[Dict[str, Any]]:
    with Bitrix(webhook, verbose=False, timeout=(5, 30), retry=Retry(total=4),
                max_workers=8) as bx:
        deals: List[Dict[str, Any]] = bx.get_all("crm.deal.list", {"select": ["ID"]})
        rows: Iterator[Dict[str, Any]] = bx.iter_all("crm.deal.list", read_ahead=4)
        titles = [str(row.get("TITLE", "")) for row in rows]
        by_id: Dict[Any, Any] = bx.get_by_ID("crm.deal.get", [1, 2, 3])
        try:
            bx.call("crm.deal.add", [{"fields": {"TITLE": title}} for title in titles])
        except BatchError as error:
            doubtful: Dict[Any, BitrixError] = error.in_doubt
            print(len(doubtful), len(error.results), len(by_id))
        except Redirected as error:
            print("use", error.location)
        except RetryExhausted as error:
            print(error.attempts, error.last_error)
        with bx.slow(2):
            bx.call_batch({"halt": 0, "cmd": {"a": "crm.deal.get?id=1"}})
        return deals


async def export_async(webhook: str) -> int:
    async with BitrixAsync(webhook, verbose=False, timeout=5) as bx:
        deals = await bx.get_all("crm.deal.list")
        count = 0
        async for row in bx.iter_all("crm.deal.list"):
            count += len(row)
        return len(deals) + count + len(await bx.get_by_ID("crm.deal.get", [1]))


def describe(error: ApiError) -> str:
    item: Optional[int] = error.item
    return f"{error.code} {error.status} {error.method} {item}"


def mirror(webhook: str) -> List[str]:
    """The mirror and the typing rules take the client as it is."""
    from bitrix_fast.mirror import sync
    from bitrix_fast.mirror.crm import sync_all
    from bitrix_fast.typed import load_fields, typed_rows

    with Bitrix(webhook) as bx:
        lines = sync(bx, "crm.deal.list", "crm.sqlite", product_rows=True).lines()
        lines += sync_all(bx, "postgresql://bi@db/crm", entities=["deal"]).lines()
        fields = load_fields(bx, "crm.deal.list")
        typed = list(typed_rows(bx.iter_all("crm.deal.list"), fields))
    return lines + [str(len(typed))]


def oauth(save: Any) -> Bitrix:
    refresher = OAuthRefresher("id", "secret", "refresh", on_update=save)
    return Bitrix("https://example.bitrix24.ru/rest/", token_func=refresher)


if __name__ == "__main__":
    asyncio.run(export_async("https://example.bitrix24.ru/rest/1/code/"))
