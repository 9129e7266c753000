"""Imported last by the fork server, after the libraries it preloads: moves every object they
made into the garbage collector's permanent generation (`gc.freeze`).

A forked step would otherwise have its first collections walk those millions of objects,
writing to each one's header and so copying every page of the preloaded heap (copy-on-write)
before its script starts. Frozen, they are never walked, and the pages stay shared.
Only the fork server imports this module.
"""

import gc

gc.freeze()
