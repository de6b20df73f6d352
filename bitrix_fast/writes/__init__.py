"""Writing: bulk calls, one command per item, with every item's fate reported exactly once.
"""
