"""Wrong uses of the public API, type-checked by tests/test_typing.py: mypy must report an
error on exactly the lines ending in an ``error:`` comment (holding part of the message),
which proves the names are real types and not ``Any``."""
from __future__ import annotations

from bitrix_fast import ApiError, BatchError, Bitrix, BitrixAsync, Redirected, RetryExhausted

bx = Bitrix("https://example.bitrix24.ru/rest/1/code/")
bx.get_all(42)  # error: Argument 1 to "get_all" of "Bitrix" has incompatible type "int"
count: int = bx.get_all("crm.deal.list")  # error: Incompatible types in assignment
for row in bx.iter_all("crm.deal.list"):
    row.upper()  # error: has no attribute "upper"
Bitrix("https://example.bitrix24.ru/rest/1/code/", timeout="5")  # error: Argument "timeout" to "Bitrix"
BitrixAsync("https://example.bitrix24.ru/rest/1/code/", max_workers="8")  # error: Argument "max_workers" to "BitrixAsync"


async def total() -> None:
    abx = BitrixAsync("https://example.bitrix24.ru/rest/1/code/")
    text: str = await abx.get_all("crm.deal.list")  # error: Incompatible types in assignment
    print(text)


def code_plus_one(error: ApiError) -> int:
    return error.code + 1  # error: Unsupported operand types for +


def attempts(error: RetryExhausted) -> str:
    return error.attempts.upper()  # error: "int" has no attribute "upper"


def where(error: Redirected) -> int:
    return error.location  # error: Incompatible return value type


def doubtful(error: BatchError) -> str:
    return error.in_doubt  # error: Incompatible return value type
