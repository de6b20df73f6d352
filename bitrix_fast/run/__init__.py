"""Running work: the engine that sends one request or batch under every policy, the one
scheduler that runs every kind of work on the worker threads, the stop context (deadline,
cancel, halt), retries, and progress reporting.
"""
