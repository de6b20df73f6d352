"""How fast we may send: the portal's request bucket, its per-method operating budget, how
many requests may be in flight, and the adaptive throttle after overloads.

Pure policy with an injected clock: nothing here sends a request. ``shared`` holds the
variants kept in Redis for many processes and machines.
"""
