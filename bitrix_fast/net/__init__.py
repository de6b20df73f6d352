"""HTTP: the transport that carries a request, the credentials that sign it (webhook or
OAuth), and the sender that turns a reply into an envelope or one of our errors.

The only layer that does network I/O; it knows nothing of batches, lists or limits.
"""
