"""Array helpers every layer shares: the distinct values of a large array, fast.

numpy 2.3+ answers ``np.unique(a)`` (no ``return_*``) from a hash table and then sorts the result;
for a million distinct 64-bit hashes that is about 50 times slower than sorting once and keeping
the first of each run (1.0 s against 0.02 s on the reference machine, ``bench/health.py``). The
data-quality engine calls it once per column per partition, so it dominated the audit.
"""

from __future__ import annotations

import numpy as np


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-D array, as ``np.unique(a)`` (NaNs count as one value), by one sort.

    Examples
    --------
    >>> sorted_unique(np.array([3, 1, 3, 2], dtype=np.uint64))
    array([1, 2, 3], dtype=uint64)
    >>> sorted_unique(np.array([1.0, np.nan, 1.0, np.nan]))
    array([ 1., nan])
    """
    s = np.sort(np.asarray(a).ravel())
    if len(s) == 0:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    if s.dtype.kind in "fc" and np.isnan(s[-1]):  # NaNs sort last and differ from each other: keep the first
        first_nan = int(np.argmax(np.isnan(s)))
        keep[first_nan + 1:] = False
        keep[first_nan] = True
    return s[keep]
