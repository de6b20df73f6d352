"""A typical fast_bitrix24 script, written against fast_bitrix24's README.

test_migration.py runs it unchanged with fast_bitrix24, and again with only the import line
changed to bitrix_fast, and compares what the two runs print.
"""
import json
import os
import sys

from fast_bitrix24 import Bitrix

webhook = os.environ["BITRIX_WEBHOOK"]
b = Bitrix(webhook, verbose=False)

deals = b.get_all("crm.deal.list", params={"select": ["ID", "TITLE", "CLOSED"],
                                           "filter": {"CLOSED": "N"}})
open_ids = sorted(int(d["ID"]) for d in deals)

first = [d["ID"] for d in sorted(deals, key=lambda d: int(d["ID"]))[:5]]
by_id = b.get_by_ID("crm.deal.get", first)
titles = [by_id[i]["TITLE"] for i in first]

updated = b.call("crm.deal.update", [{"ID": i, "fields": {"TITLE": f"checked {i}"}}
                                     for i in first])

batch = b.call_batch({"halt": 0, "cmd": {
    "one": f"crm.deal.get?ID={first[0]}",
    "two": f"crm.deal.get?ID={first[1]}"}})

with b.slow(1):
    leads = b.get_all("crm.lead.list", {"select": ["ID"]})

after = b.get_by_ID("crm.deal.get", first)
json.dump({
    "open_deals": len(open_ids), "id_sum": sum(open_ids), "titles": titles,
    "updated": list(updated), "batch": sorted(batch), "batch_id": batch["one"]["ID"],
    "leads": len(leads), "after": [after[i]["TITLE"] for i in first],
}, sys.stdout, sort_keys=True)
