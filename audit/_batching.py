"""Batched execution with automatic back-off on out-of-memory errors, reproducibly on any device."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA/MPS/CPU allocator out-of-memory error."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@contextmanager
def deterministic_kernels() -> Iterator[None]:
    """cuDNN restricted to deterministic algorithms, without autotuning, for the block (flags restored after).

    Some cuDNN convolution backward algorithms add with atomics, so the same inputs give gradients
    that differ in the last bits from run to run, and ``cudnn.benchmark`` picks algorithms by timing,
    which changes between runs. The audit promises the same numbers for the same seed, so device
    work runs with ``deterministic=True, benchmark=False``. (TF32 stays as the user set it: it is
    deterministic, only less precise than float32 on CPU.) No effect on CPU.
    """
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


def run_batched(fn: Callable[[int, int], T], n: int, batch_size: int, *, min_batch: int = 1) -> tuple[list[T], int]:
    """Call ``fn(start, stop)`` over ``range(n)`` in batches, halving the batch on OOM.

    Returns the list of per-batch results and the batch size that finally worked, so callers can
    reuse it for later passes. Re-raises the OOM once the batch would fall below ``min_batch``.
    The calls run under :func:`deterministic_kernels`, so device results are reproducible.

    Examples
    --------
    >>> parts, bs = run_batched(lambda a, b: list(range(a, b)), 5, 2)
    >>> parts, bs
    ([[0, 1], [2, 3], [4]], 2)
    """
    out: list[T] = []
    start = 0
    bs = max(1, int(batch_size))
    with deterministic_kernels():
        while start < n:
            stop = min(n, start + bs)
            try:
                out.append(fn(start, stop))
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, others re-raised
                if not is_oom(exc) or bs // 2 < min_batch:
                    raise
                bs //= 2
                log.warning("out of memory at batch size %d; retrying with %d", bs * 2, bs)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            start = stop
    return out, bs


def concat(parts: Sequence) -> object:
    """Concatenate numpy arrays or tensors returned by :func:`run_batched`."""
    if len(parts) and isinstance(parts[0], torch.Tensor):
        return torch.cat(list(parts))
    return np.concatenate(list(parts))
