"""Model files: the registered backends' formats, picked by suffix, and the trust rule for files that are code.

Data formats load as they are: ONNX, XGBoost (``.ubj``, ``.json``), LightGBM (``.txt``), CatBoost (``.cbm``),
skops (types beyond skops' defaults and our reviewed list only when named in ``trusted_types``). Code formats
(TorchScript ``.pt``/``.pth``/``.ts``, ``torch.export`` ``.pt2``, pickles) load only with ``trust_code=True``:
loading or calling one can run anything, so a model proposed in a pull request cannot take over the machine
that audits it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audit.backends._base import BACKENDS, ModelBackend, ModelFile, ModelFileError

UNSUPPORTED = (
    "unsupported model file type {suffix!r}; use .onnx, .ubj or .json (XGBoost), .txt (LightGBM), .cbm (CatBoost), "
    ".skops, or with trust_code = true .pt (TorchScript), .pt2 (torch.export) or a pickle"
)
UNTRUSTED_CODE = (
    "{name} is {what}, which runs arbitrary code when loaded or called, and [model] does not set trust_code = true; "
    "set it only for a file you would run as a program (never for a model proposed in an unreviewed pull request), "
    "or save the model as ONNX, skops or the library's own model file"
)


def model_file_format(path: str | Path) -> tuple[type[ModelBackend], ModelFile] | None:
    """The backend and format that load ``path``, by its suffix (case-insensitive); None for an unknown one."""
    suffix = Path(path).suffix.lower()
    for backend in BACKENDS:
        for fmt in backend.file_formats:
            if suffix in fmt.suffixes:
                return backend, fmt
    return None


def model_suffixes(*, runs_code: bool) -> tuple[str, ...]:
    """Every registered model file suffix that is code (``runs_code=True``) or data."""
    return tuple(s for b in BACKENDS for fmt in b.file_formats if fmt.runs_code == runs_code for s in fmt.suffixes)


def load_model_file(path: str | Path, *, trust_code: bool = False, trusted_types: Iterable[str] = ()) -> Any:
    """The model in ``path``, loaded by the backend whose format has its suffix.

    A format that is code loads only with ``trust_code=True``; ``trusted_types`` are the type names a skops
    file may hold beyond the reviewed defaults. Every refusal and every failure of the library's loader is a
    :class:`ModelFileError` naming the file.

    Examples
    --------
    >>> load_model_file("model.pkl")  # doctest: +SKIP
    Traceback (most recent call last):
    ModelFileError: model.pkl is a pickle, which runs arbitrary code when loaded or called, ...
    """
    p = Path(path)
    found = model_file_format(p)
    if found is None:
        raise ModelFileError(UNSUPPORTED.format(suffix=p.suffix.lower()))
    _, fmt = found
    if fmt.runs_code and not trust_code:
        raise ModelFileError(UNTRUSTED_CODE.format(name=p.name, what=fmt.what))
    try:
        return fmt.load(p, trusted_types=frozenset(trusted_types))
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - each library raises its own types; the file is what failed
        raise ModelFileError(f"cannot load {p.name}: {type(exc).__name__}: {exc}") from exc
