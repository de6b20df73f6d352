"""Writes safe to repeat: keyed adds that settle what was in doubt, upserts a cron job can
run again, updates and deletes resent when in doubt, REST 3.0 writes under an
Idempotency-Key.

========================  ===========================================================
:mod:`.table`             which writes are safe to repeat, and what is done with each
:mod:`.keys`              a key field: which methods, which names, the items' values
:mod:`.lookup`            find records by key, many keys per command, answers checked
:mod:`.settle`            when an add in doubt may be trusted absent, and resent
:mod:`.readback`          adds in doubt read back by key: what each answer decides
:mod:`.source`            a bulk call whose doubts are resent or settled
:mod:`.compare`           whether a record already holds what an upsert would write
:mod:`.upsert`            look up, then add, update or leave each item
:mod:`.result`            what an upsert did: UpsertResult, and its error
:mod:`.v3calls`           REST 3.0 calls, one request per item, each with its key
========================  ===========================================================
"""
