"""The Bitrix24 REST protocol as data, with no I/O: encoding of parameters, batch packing
and unpacking, reply envelopes, what we know of each method, the caller's parameters
parsed once, and redaction of secrets.
"""
