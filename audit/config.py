"""``audit.toml``: where the model and data come from, which checks run, and the policy.

Paths are relative to the config file (or absolute); the config's folder and the working directory
are importable, so ``factory = "mypkg.models:load_model"`` finds a package next to the config.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import AuditInputError

_SCHEMA: dict[str, set[str]] = {
    "model": {"factory", "path", "transform", "output", "trust_pickle", "trusted_types"},
    "data": {"path", "factory", "target", "sensitive", "features", "modality"},
    "train": {"path", "factory"},
    "audit": {"checks", "seed", "device", "immutable", "baseline", "name"},
    "checks": set(),  # [checks.<name>] tables: settings passed to that check
    "policy": set(),  # metric names, validated by Policy
}
_SAFE_SKOPS_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class ConfigError(AuditInputError):
    """The config file is missing, malformed or names something that does not exist."""


@dataclass
class AuditConfig:
    """A parsed ``audit.toml``; :meth:`load_inputs` imports and reads what it names."""

    path: Path
    model: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any] | None
    audit: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent


def read_config(path: str | Path) -> AuditConfig:
    """Parse and validate a config file; every error names the bad key.

    Examples
    --------
    >>> cfg = read_config("examples/compas.toml")  # doctest: +SKIP
    >>> cfg.data["target"]  # doctest: +SKIP
    'two_year_recid'
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
    unknown = set(raw) - set(_SCHEMA)
    if unknown:
        raise ConfigError(f"config has unknown table [{sorted(unknown)[0]}]; valid tables are {sorted(_SCHEMA)}")
    for table, keys in _SCHEMA.items():
        if table not in raw or table in ("checks", "policy"):
            continue
        if not isinstance(raw[table], dict):
            raise ConfigError(f"config key {table!r} must be a table ([{table}])")
        bad = set(raw[table]) - keys
        if bad:
            raise ConfigError(f"config key '{table}.{sorted(bad)[0]}' is not known; valid keys in [{table}] are {sorted(keys)}")
    if "model" not in raw:
        raise ConfigError("config needs a [model] table with factory = \"module:function\" or path = \"model.pt\"")
    if "data" not in raw:
        raise ConfigError("config needs a [data] table with path = \"data.csv\" and target = \"label\"")
    m = raw["model"]
    if ("factory" in m) == ("path" in m):
        raise ConfigError("config [model] needs exactly one of 'model.factory' or 'model.path'")
    d = raw["data"]
    if ("factory" in d) == ("path" in d):
        raise ConfigError("config [data] needs exactly one of 'data.path' or 'data.factory'")
    if "target" not in d:
        raise ConfigError("config key 'data.target' is missing; name the label column")
    sens = d.get("sensitive", [])
    if isinstance(sens, str):
        d["sensitive"] = [sens]
    elif not isinstance(sens, list) or not all(isinstance(s, str) for s in sens):
        raise ConfigError(f"config key 'data.sensitive' must be a list of column names, got {sens!r}")
    checks = raw.get("checks", {})
    if not isinstance(checks, dict) or not all(isinstance(v, dict) for v in checks.values()):
        raise ConfigError("config [checks] must hold one table per check, e.g. [checks.fairness] n_boot = 200")
    return AuditConfig(
        path=p.resolve(), model=m, data=d, train=raw.get("train"), audit=raw.get("audit", {}),
        checks=checks, policy=raw.get("policy", {}),
    )


def import_object(spec: str, key: str, root: Path) -> Any:
    """Import ``"package.module:attribute"``; the config folder and cwd are on ``sys.path``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"config key {key!r} must look like 'package.module:function', got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    for folder in (str(root), str(Path.cwd())):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"config key {key!r}: cannot import module {mod_name!r}: {exc}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ConfigError(f"config key {key!r}: module {mod_name!r} has no attribute {attr!r}") from None
    return obj


def _call(factory: Callable[[], Any], key: str) -> Any:
    try:
        return factory()
    except Exception as exc:  # noqa: BLE001 - reported as a cannot-run error with context
        raise ConfigError(f"config key {key!r}: the factory raised {type(exc).__name__}: {exc}") from exc


def _resolve(root: Path, value: str, key: str) -> Path:
    p = Path(value)
    p = p if p.is_absolute() else root / p
    if not p.exists():
        raise ConfigError(f"config key {key!r}: file {str(p)!r} not found")
    return p


def load_model(cfg: AuditConfig) -> Any:
    """The model named by ``[model]``: a factory, a TorchScript / torch.export file, a skops file,
    or (only with ``trust_pickle = true``) a pickle."""
    m = cfg.model
    if "factory" in m:
        return _call(import_object(m["factory"], "model.factory", cfg.root), "model.factory")
    path = _resolve(cfg.root, m["path"], "model.path")
    suffix = path.suffix.lower()
    trust = bool(m.get("trust_pickle", False))
    import torch

    try:
        if suffix == ".pt2":
            return torch.export.load(str(path)).module()
        if suffix in (".pt", ".pth", ".ts"):
            try:
                return torch.jit.load(str(path), map_location="cpu")
            except RuntimeError:
                if not trust:
                    raise ConfigError(
                        f"config key 'model.path': {path.name} is not TorchScript; loading a pickled torch model "
                        "runs arbitrary code: set trust_pickle = true in [model] if you trust the file"
                    ) from None
                return torch.load(str(path), map_location="cpu", weights_only=False)
        if suffix == ".skops":
            import skops.io as sio

            untrusted = sio.get_untrusted_types(file=str(path))
            allowed = set(m.get("trusted_types", []))
            unsafe = [t for t in untrusted if not t.startswith(_SAFE_SKOPS_PREFIXES) and t not in allowed]
            if unsafe:
                raise ConfigError(
                    f"config key 'model.path': {path.name} contains types outside scikit-learn/numpy/scipy: {unsafe}; "
                    "list them in [model] trusted_types = [...] if you trust them"
                )
            return sio.load(str(path), trusted=untrusted)
        if suffix in (".pkl", ".pickle", ".joblib"):
            if not trust:
                raise ConfigError(
                    f"config key 'model.path': {path.name} is a pickle, which runs arbitrary code when loaded; "
                    "save the model with skops or TorchScript, or set trust_pickle = true in [model]"
                )
            import joblib

            return joblib.load(path)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"config key 'model.path': cannot load {path.name}: {type(exc).__name__}: {exc}") from exc
    raise ConfigError(
        f"config key 'model.path': unsupported model file type {suffix!r}; use .pt (TorchScript), .pt2 (torch.export), "
        ".skops, or a pickle with trust_pickle = true"
    )


def load_frame(spec: dict[str, Any], table: str, root: Path) -> pd.DataFrame:
    """A DataFrame from ``path`` (CSV or Parquet) or ``factory`` ("module:function")."""
    if "factory" in spec:
        obj = _call(import_object(spec["factory"], f"{table}.factory", root), f"{table}.factory")
        if not isinstance(obj, pd.DataFrame):
            raise ConfigError(f"config key '{table}.factory' must return a pandas DataFrame, got {type(obj).__name__}")
        return obj
    path = _resolve(root, spec["path"], f"{table}.path")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401 - pandas' Parquet engine, an optional dependency
            except ImportError:
                raise ConfigError(
                    f"config key '{table}.path': reading {path.name} needs pyarrow; install it with "
                    "pip install 'audit[parquet]' (or pip install pyarrow), or pass a CSV file"
                ) from None
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"config key '{table}.path': cannot read {path.name}: {type(exc).__name__}: {exc}") from exc


def build_audit_kwargs(cfg: AuditConfig, *, checks: list[str] | None = None) -> dict[str, Any]:
    """Everything ``audit()`` needs, loaded from the config (model, data, checks, policy, ...)."""
    from audit.checks import REGISTRY

    model = load_model(cfg)
    transform = None
    if "transform" in cfg.model:
        transform = _call(import_object(cfg.model["transform"], "model.transform", cfg.root), "model.transform")
    data = load_frame(cfg.data, "data", cfg.root)
    train = load_frame(cfg.train, "train", cfg.root) if cfg.train else None
    names = checks if checks is not None else cfg.audit.get("checks")
    for name in cfg.checks:
        if name not in REGISTRY:
            raise ConfigError(f"config table [checks.{name}] names an unknown check; valid checks are {list(REGISTRY)}")
    instances = None
    if names is not None or cfg.checks:
        selected = names if names is not None else list(REGISTRY)
        instances = []
        for n in selected:
            if n not in REGISTRY:
                raise ConfigError(f"config key 'audit.checks' names unknown check {n!r}; valid checks are {list(REGISTRY)}")
            try:
                instances.append(REGISTRY[n](**cfg.checks.get(n, {})))
            except TypeError as exc:
                raise ConfigError(f"config table [checks.{n}]: {exc}") from None
    baseline = cfg.audit.get("baseline")
    return {
        "model": model,
        "data": data,
        "target": cfg.data["target"],
        "sensitive": cfg.data.get("sensitive") or None,
        "features": cfg.data.get("features"),
        "modality": cfg.data.get("modality"),
        "train": train,
        "transform": transform,
        "model_output": cfg.model.get("output", "auto"),
        "checks": instances,
        "policy": cfg.policy or None,
        "seed": int(cfg.audit.get("seed", 0)),
        "device": cfg.audit.get("device", "auto"),
        "immutable": cfg.audit.get("immutable", []),
        "baseline": None if baseline is None else _resolve(cfg.root, baseline, "audit.baseline"),
        "name": cfg.audit.get("name"),
    }
