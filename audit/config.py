"""``audit.toml``: where the model and data come from, which checks run, and the policy.

Paths are relative to the config file (or absolute); the config's folder and the working directory are
importable, so ``factory = "mypkg.models:load_model"`` finds a package next to the config. They are searched
after the installed packages, so a project file named like a library (``lime.py``) never replaces it.

This module parses and validates; model files load through :func:`audit.backends.load_model_file` (code loads only
with ``trust_code = true``, or ``trust_pickle``), data files through :mod:`audit.data_files`.
"""

from __future__ import annotations

import importlib
import math
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.data_files import DataFileError, read_dask_frame, read_frame, regular_path
from audit.errors import AuditInputError

_SCHEMA: dict[str, set[str]] = {
    "model": {"factory", "path", "transform", "output", "trust_code", "trust_pickle", "trusted_types", "score", "pred",
              "classes", "prediction", "interval", "task"},
    "data": {"path", "factory", "target", "sensitive", "features", "modality", "sample_weight"},
    "train": {"path", "factory"},
    "audit": {"checks", "seed", "device", "immutable", "baseline", "name", "min_group_size", "positive_class",
              "positive_is_favorable", "time_column", "period", "timeout"},
    "engine": {"scheduler", "workers"},  # Dask: data larger than memory
    "checks": set(),  # [checks.<name>] tables: settings passed to that check
    "policy": set(),  # metric names, validated by Policy
}
_OUTPUT_KINDS, _TASKS = ("auto", "logits", "proba", "labels"), ("auto", "classification", "regression")
_MODALITIES = ("tabular", "image")


class ConfigError(AuditInputError):
    """The config file is missing, malformed or names something that does not exist."""


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)  # never bool("no"): a string or 1 would silently mean true


def _is_seed(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def is_seconds(v: Any) -> bool:
    """A time budget: a positive, finite number of seconds (``nan`` or ``inf`` would never end the run)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


#: the type every known key takes: (what it must be, test, an example value for the fix)
_KEY_TYPES: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "model.factory": ("a string 'module:function'", _is_str, '"mypkg.models:load_model"'),
    "model.path": ("a string (a file path)", _is_str, '"model.pt"'),
    "model.transform": ("a string 'module:function'", _is_str, '"mypkg.features:make_encoder"'),
    "model.output": (f"one of {list(_OUTPUT_KINDS)}", lambda v: isinstance(v, str) and v in _OUTPUT_KINDS, '"auto"'),
    "model.task": (f"one of {list(_TASKS)}", lambda v: v in _TASKS, '"regression"'),
    "model.prediction": ("a string (a column name)", _is_str, '"predicted_amount"'),
    "model.interval": ("two column names", lambda v: _is_strs(v) and len(v) == 2, '["lower", "upper"]'),
    "model.trust_code": ("true or false (a TOML boolean, without quotes)", _is_bool, "false"),
    "model.trust_pickle": ("true or false (a TOML boolean, without quotes)", _is_bool, "false"),
    "model.trusted_types": ("a list of type names", _is_strs, '["mypkg.module.MyClass"]'),
    "data.path": ("a string (a file path)", _is_str, '"data/test.csv"'),
    "data.factory": ("a string 'module:function'", _is_str, '"mypkg.data:load_test"'),
    "data.target": ("a string (the label column)", _is_str, '"label"'),
    "data.sensitive": ("a list of column names", _is_strs, '["race", "sex"]'),
    "data.features": ("a list of column names", _is_strs, '["age", "income"]'),
    "data.sample_weight": ("a column name (one weight per row)", _is_str, '"fnlwgt"'),
    "data.modality": (f"one of {list(_MODALITIES)}", lambda v: isinstance(v, str) and v in _MODALITIES, '"tabular"'),
    "train.path": ("a string (a file path)", _is_str, '"data/train.csv"'),
    "train.factory": ("a string 'module:function'", _is_str, '"mypkg.data:load_train"'),
    "audit.checks": ("a list of check names", _is_strs, '["performance", "fairness"]'),
    "audit.seed": ("a non-negative integer", _is_seed, "0"),
    "audit.device": ("a string", _is_str, '"auto"'),
    "audit.immutable": ("a list of column names", _is_strs, '["age"]'),
    "audit.baseline": ("a string (the path of a previous audit.json)", _is_str, '"last-release/audit.json"'),
    "audit.name": ("a string", _is_str, '"credit model v2"'),
    "model.score": ("a column name or a list of column names", lambda v: isinstance(v, str) or _is_strs(v), '"p_default"'),
    "model.pred": ("a column name", _is_str, '"predicted"'),
    "model.classes": ("a list of class values", lambda v: isinstance(v, list) and len(v) >= 2, "[0, 1]"),
    "engine.scheduler": ('"local" (a LocalCluster on this machine) or a scheduler address', _is_str, '"local"'),
    "engine.workers": ("a positive integer", lambda v: _is_seed(v) and v > 0, "2"),
    "audit.min_group_size": ("a positive integer", lambda v: _is_seed(v) and v > 0, "30"),
    "audit.positive_class": ("a class value (string or integer)", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "1"),
    "audit.positive_is_favorable": ("true or false (a TOML boolean, without quotes)", _is_bool, "true"),
    "audit.time_column": ("a column name (a timestamp)", _is_str, '"scored_at"'),
    "audit.period": ('a pandas period: "D", "W", "M" or "Q"', _is_str, '"M"'),
    "audit.timeout": ("a positive number of seconds", is_seconds, "1800"),
}


def _kind(v: Any) -> str:
    """How a TOML value reads in an error message."""
    for t, word in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                    (list, "a list"), (dict, "a table")):
        if isinstance(v, t):
            return word
    return f"a TOML {type(v).__name__}"


def _shown(v: Any, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _type_error(key: str, value: Any, what: str, example: str) -> ConfigError:
    leaf = key.rsplit(".", 1)[-1]
    return ConfigError(f"config key {key!r} must be {what}, got {_shown(value)} ({_kind(value)}); "
                       f"write e.g. {leaf} = {example}")


def _validate_types(raw: dict[str, Any]) -> None:
    """Every known key has the type it needs, so nothing is coerced later (``bool("no")`` is True)."""
    for key, (what, ok, example) in _KEY_TYPES.items():
        table, leaf = key.split(".")
        if isinstance(raw.get(table), dict) and leaf in raw[table] and not ok(raw[table][leaf]):
            raise _type_error(key, raw[table][leaf], what, example)


def _list_of_names(value: Any) -> Any:
    """``"a"`` -> ``["a"]`` and ``"a, b"`` -> ``["a", "b"]``, as ``--checks`` reads it; other values unchanged
    (iterating a string would read ``"performance"`` as the checks 'p', 'e', ...)."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _hint_ok(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a check constructor's type hint (bool is not an int, int is a float)."""
    import types
    import typing
    from collections.abc import Sequence

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_hint_ok(value, a) for a in args)
    if origin is typing.Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if origin in (list, tuple, Sequence) or hint in (list, tuple, Sequence):
        # a string is a sequence too, but a check reading it would split it into characters
        return isinstance(value, list) and (not args or all(_hint_ok(x, args[0]) for x in value))
    return True  # a hint we cannot test (a class): let the check validate it


def _hint_words(hint: Any) -> str:
    import types
    import typing
    from collections.abc import Sequence

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    words = {bool: "true or false (a TOML boolean, without quotes)", int: "an integer", float: "a number",
             str: "a string"}
    if hint in words:
        return words[hint]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_hint_words(a) for a in args if a is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, Sequence):
        return f"a list ([...]) of {_hint_words(args[0]) if args else 'values'}"
    return getattr(hint, "__name__", str(hint))


def check_settings(name: str, settings: dict[str, Any]) -> None:
    """Raise a :class:`ConfigError` naming ``checks.<name>.<key>`` when a setting has the wrong type for
    the check's constructor (``n_boot = "many"``, ``proxies = "no"``), before any work starts."""
    import typing

    from audit.checks import REGISTRY

    try:
        hints = typing.get_type_hints(REGISTRY[name].__init__)
    except Exception:  # noqa: BLE001 - a check whose hints do not resolve is validated by its constructor
        return
    for key, value in settings.items():
        if key in hints and not _hint_ok(value, hints[key]):
            raise ConfigError(f"config key 'checks.{name}.{key}' must be {_hint_words(hints[key])}, "
                              f"got {_shown(value)} ({_kind(value)})")
        # every integer setting of a check is a count (resamples, rows, steps, images): never negative
        if key in hints and "int" in str(hints[key]) and isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"config key 'checks.{name}.{key}' must be a non-negative integer (a count), got {value}")


@dataclass
class AuditConfig:
    """A parsed ``audit.toml``; :meth:`load_inputs` imports and reads what it names."""

    path: Path
    model: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any] | None
    audit: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
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
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start}); TOML files must be UTF-8: save it with that encoding") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise ConfigError(f"config file {str(p)!r} nests arrays or tables too deeply to read; "
                          "an audit config needs two levels ([checks.<name>] tables)") from None
    except ValueError as exc:  # an integer literal over Python's 4,300-digit conversion limit
        raise ConfigError(f"config file {str(p)!r} holds a value TOML cannot read here: {exc}") from None
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
    sources = [k for k in ("factory", "path", "score", "pred", "prediction") if k in m]
    if len(sources) != 1 and sorted(sources) != ["pred", "score"]:
        raise ConfigError("config [model] needs exactly one of 'model.factory', 'model.path', or stored predictions "
                          "('model.score' and/or 'model.pred': columns of the data holding the predictions, or "
                          "'model.prediction': a regression log's predicted values)")
    d = raw["data"]
    if ("factory" in d) == ("path" in d):
        raise ConfigError("config [data] needs exactly one of 'data.path' or 'data.factory'")
    if "target" not in d:
        raise ConfigError("config key 'data.target' is missing; name the label column")
    if isinstance(d.get("sensitive"), str):
        d["sensitive"] = [d["sensitive"]]  # one column name
    audit_t = raw.get("audit")
    if isinstance(audit_t, dict):
        if "checks" in audit_t:
            audit_t["checks"] = _list_of_names(audit_t["checks"])
        if isinstance(audit_t.get("immutable"), str):
            audit_t["immutable"] = [audit_t["immutable"]]
    _validate_types(raw)
    if "trust_code" in m and "trust_pickle" in m and m["trust_code"] != m["trust_pickle"]:
        raise ConfigError("config keys 'model.trust_code' and 'model.trust_pickle' disagree; trust_pickle is the older "
                          "name of trust_code: keep only trust_code")
    checks = raw.get("checks", {})
    if not isinstance(checks, dict) or not all(isinstance(v, dict) for v in checks.values()):
        raise ConfigError("config [checks] must hold one table per check, e.g. [checks.fairness] n_boot = 200")
    return AuditConfig(
        path=p.resolve(), model=m, data=d, train=raw.get("train"), audit=raw.get("audit", {}),
        checks=checks, policy=raw.get("policy", {}), engine=raw.get("engine", {}),
    )


def import_object(spec: str, key: str, root: Path) -> Any:
    """Import ``"package.module:attribute"``; the config folder and cwd are on ``sys.path``.

    They go at its end: a project file named like an installed library (``lime.py``, ``shap.py``) must not
    replace that library for the audit's own code.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"config key {key!r} must look like 'package.module:function', got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    for folder in (str(root), str(Path.cwd())):
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"config key {key!r}: cannot import module {mod_name!r}: {exc}") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ConfigError(f"config key {key!r}: module {mod_name!r} has no attribute {attr!r}"
                          f"{_shadowed(module, mod_name, root)}") from None
    return obj


def _shadowed(module: Any, mod_name: str, root: Path) -> str:
    """A hint when an installed module of the same name was imported instead of the project's file."""
    top = mod_name.split(".")[0]
    mine = [root / f"{top}.py", root / top / "__init__.py"]
    origin = getattr(module, "__file__", None)
    if any(p.is_file() for p in mine) and origin and not Path(origin).resolve().is_relative_to(root.resolve()):
        return (f" (an installed module {top!r} at {origin} comes before the project's {top!r} next to the config; "
                "rename the project's module)")
    return ""


def _call(factory: Callable[[], Any], key: str) -> Any:
    try:
        return factory()
    except SystemExit as exc:  # sys.exit(0) in a factory must not end the gate with "passed"
        raise ConfigError(f"config key {key!r}: the factory called sys.exit({exc.code!r}); a factory must return "
                          "its object or raise") from None
    except Exception as exc:  # noqa: BLE001 - reported as a cannot-run error with context
        raise ConfigError(f"config key {key!r}: the factory raised {type(exc).__name__}: {exc}") from exc


@contextmanager
def _keyed(key: str) -> Iterator[None]:
    """A model or data file error as a :class:`ConfigError` naming the config key the file came from."""
    from audit.backends import ModelFileError

    try:
        yield
    except (ModelFileError, DataFileError) as exc:
        raise ConfigError(f"config key {key!r}: {exc}") from exc.__cause__


def _resolve(root: Path, value: str, key: str) -> Path:
    """The path ``value`` names (relative to the config's folder): a file or folder, never a FIFO or device."""
    with _keyed(key):
        return regular_path(root, value)


def trusts_code(model: dict[str, Any]) -> bool:
    """Whether ``[model]`` allows a model file that is code: ``trust_code = true`` (or its older name
    ``trust_pickle = true``); read_config allows only real booleans there."""
    return model.get("trust_code", False) is True or model.get("trust_pickle", False) is True


def load_model(cfg: AuditConfig) -> Any:
    """The model named by ``[model]``: stored predictions, a factory, or a model file, which its backend loads
    (:func:`audit.backends.load_model_file`: code formats only with ``trust_code = true``, skops types beyond the
    reviewed defaults only when named in ``trusted_types``)."""
    from audit.backends import StoredPredictions, load_model_file

    m = cfg.model
    if "score" in m or "pred" in m or "prediction" in m:
        return StoredPredictions(m.get("score"), pred=m.get("pred"), classes=m.get("classes"), prediction=m.get("prediction"),
                                 interval=m.get("interval"))
    if "factory" in m:
        return _call(import_object(m["factory"], "model.factory", cfg.root), "model.factory")
    path = _resolve(cfg.root, m["path"], "model.path")
    with _keyed("model.path"):
        return load_model_file(path, trust_code=trusts_code(m), trusted_types=m.get("trusted_types", []))


def load_frame(spec: dict[str, Any], table: str, root: Path) -> pd.DataFrame:
    """A DataFrame from ``path`` (CSV or Parquet) or ``factory`` ("module:function")."""
    if "factory" in spec:
        obj = _call(import_object(spec["factory"], f"{table}.factory", root), f"{table}.factory")
        if not isinstance(obj, pd.DataFrame):
            raise ConfigError(f"config key '{table}.factory' must return a pandas DataFrame, got {type(obj).__name__}")
        return obj
    path = _resolve(root, spec["path"], f"{table}.path")
    with _keyed(f"{table}.path"):
        return read_frame(path)


def load_dask_frame(spec: dict[str, Any], table: str, root: Path) -> Any:
    """A Dask DataFrame from ``path``: a Parquet file, folder or glob (``logs/*.parquet``), read lazily."""
    if "factory" in spec:
        return load_frame(spec, table, root)
    try:
        import dask.dataframe  # noqa: F401 - read_dask_frame's reader, an optional dependency
    except ImportError:
        raise ConfigError("config table [engine] needs Dask: pip install 'audit[dask]'") from None
    with _keyed(f"{table}.path"):
        return read_dask_frame(str(spec["path"]), root)


def dask_client(cfg: AuditConfig) -> Any:
    """A ``distributed.Client`` for ``[engine] scheduler``: a LocalCluster for "local", else the address given."""
    try:
        import distributed
    except ImportError:
        raise ConfigError("config table [engine] needs dask.distributed: pip install 'audit[dask]'") from None
    import logging

    # a LocalCluster's scheduler logs here at INFO (a shuffle at WARNING): a gate's output is its findings (--debug)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("distributed").setLevel(logging.ERROR)
    scheduler = cfg.engine.get("scheduler", "local")
    if scheduler == "local":
        # the workers log a task that raised with its traceback at ERROR: the error reaches the client and is
        # reported in one line, so the workers stay silent but for --debug
        quiet = logging.WARNING if logging.getLogger().isEnabledFor(logging.DEBUG) else logging.CRITICAL
        import warnings

        with warnings.catch_warnings():
            # the scheduler's HTTP server moves off port 8787 when another cluster holds it, and says so
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            cluster = distributed.LocalCluster(n_workers=int(cfg.engine.get("workers", 2)), threads_per_worker=1,
                                               processes=True, dashboard_address=None, silence_logs=quiet)
        return distributed.Client(cluster)
    try:
        return distributed.Client(scheduler, timeout="10s")
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"config key 'engine.scheduler': cannot reach {scheduler!r}: {exc}") from exc


def build_audit_kwargs(cfg: AuditConfig, *, checks: list[str] | None = None) -> dict[str, Any]:
    """Everything ``audit()`` needs, loaded from the config (model, data, checks, policy, ...)."""
    from audit.checks import REGISTRY

    # Settings first: a typo or a wrong type fails before the model and data are loaded.
    names = checks if checks is not None else cfg.audit.get("checks")
    where = "--checks" if checks is not None else "config key 'audit.checks'"
    for name in cfg.checks:
        if name not in REGISTRY:
            raise ConfigError(f"config table [checks.{name}] names an unknown check; valid checks are {list(REGISTRY)}")
        check_settings(name, cfg.checks[name])
    instances = None
    if names is not None or cfg.checks:
        selected = names if names is not None else list(REGISTRY)
        instances = []
        for n in selected:
            if n not in REGISTRY:
                raise ConfigError(f"{where} names unknown check {n!r}; valid checks are {list(REGISTRY)}")
            try:
                instances.append(REGISTRY[n](**cfg.checks.get(n, {})))
            except TypeError as exc:
                raise ConfigError(f"config table [checks.{n}]: {exc}") from None
    from audit._api import set_stage

    set_stage("loading the model ([model])")
    model = load_model(cfg)
    transform = None
    if "transform" in cfg.model:
        set_stage("calling model.transform")
        transform = _call(import_object(cfg.model["transform"], "model.transform", cfg.root), "model.transform")
    set_stage("reading the data ([data])")
    data = load_dask_frame(cfg.data, "data", cfg.root) if cfg.engine else load_frame(cfg.data, "data", cfg.root)
    set_stage("reading the training data ([train])")
    train = load_frame(cfg.train, "train", cfg.root) if cfg.train else None
    baseline = cfg.audit.get("baseline")
    return {
        "model": model,
        "data": data,
        "target": cfg.data["target"],
        "sensitive": cfg.data.get("sensitive") or None,
        "features": cfg.data.get("features"),
        "modality": cfg.data.get("modality"),
        "sample_weight": cfg.data.get("sample_weight"),
        "train": train,
        "transform": transform,
        "model_output": cfg.model.get("output", "auto"),
        "task": cfg.model.get("task", "auto"),
        "checks": instances,
        "policy": cfg.policy or None,
        "seed": int(cfg.audit.get("seed", 0)),
        "device": cfg.audit.get("device", "auto"),
        "immutable": cfg.audit.get("immutable", []),
        "baseline": None if baseline is None else _resolve(cfg.root, baseline, "audit.baseline"),
        "name": cfg.audit.get("name"),
        "min_group_size": cfg.audit.get("min_group_size", 30),
        "positive_class": cfg.audit.get("positive_class"),
        "positive_is_favorable": cfg.audit.get("positive_is_favorable", True),
        "time_column": cfg.audit.get("time_column"),
        "period": cfg.audit.get("period", "M"),
    }
