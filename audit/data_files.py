"""Data files: a path that is safe to read, a CSV or Parquet file as a DataFrame, Parquet parts as a Dask one.

A FIFO, socket or device is refused before anything reads it: reading one blocks until someone writes to
it, or never ends. Every refusal and every failure of the reader is a :class:`DataFileError` naming the
file; ``audit.config`` adds the config key it came from.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import AuditInputError


class DataFileError(AuditInputError):
    """A data file that is missing, not a regular file or folder, or that its reader cannot read."""


def regular_path(root: Path, value: str) -> Path:
    """The path ``value`` names (relative to ``root``, or absolute); it must exist and be a file or a folder."""
    p = Path(value)
    p = p if p.is_absolute() else root / p
    if not p.exists():
        raise DataFileError(f"file {str(p)!r} not found")
    mode = p.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise DataFileError(f"{str(p)!r} is {kind}, not a regular file; reading it could block for ever: pass a file")
    return p


def read_frame(path: Path) -> pd.DataFrame:
    """A DataFrame from a Parquet file (``.parquet``, ``.pq``; needs pyarrow) or else a CSV file."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401 - pandas' Parquet engine, an optional dependency
            except ImportError:
                raise DataFileError(
                    f"reading {path.name} needs pyarrow; install it with pip install 'audit[parquet]' (or pip install "
                    "pyarrow), or pass a CSV file"
                ) from None
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except DataFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - pandas and its engines raise many types; the file is what failed
        raise DataFileError(f"cannot read {path.name}: {type(exc).__name__}: {exc}") from exc


def read_dask_frame(value: str, root: Path) -> Any:
    """A Dask DataFrame from ``value``: a Parquet file, folder or glob (``logs/*.parquet``), read lazily.

    Needs ``dask.dataframe`` (the caller says how to install it when it is missing).
    """
    import dask.dataframe as dd

    pattern = value if Path(value).is_absolute() else str(root / value)
    matches = sorted(Path(pattern).parent.glob(Path(pattern).name)) if any(ch in value for ch in "*?[") else (
        [Path(pattern)] if Path(pattern).exists() else [])
    if not matches:
        raise DataFileError(f"nothing matches {pattern!r}")
    for match in matches:  # a FIFO among the parts would block the read for ever
        regular_path(root, str(match))
    try:
        return dd.read_parquet([str(p) for p in matches])
    except Exception as exc:  # noqa: BLE001
        raise DataFileError(f"cannot read {value!r} with Dask: {type(exc).__name__}: {exc}") from exc
