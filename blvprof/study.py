"""Studies: a grid of model configurations and what to measure (and train) on each, as TOML data.

A study file has these tables (only ``[[grid]]`` is required)::

    [study]          name, description
    [measure]        metrics, counter, memory_budget, batch, device, precision, warmup, steps
    [defaults]       model config fields, each applied to the grid points whose model has it
                     (a key that no model in the grid has is an error, not ignored)
    [[grid]]         model = "name" or [names]; any config field = value or [values]
    [speed]          size, quick_size, batch, warmup, steps, and [[speed.grid]] points to time
    [train]          a training recipe (blvprof.train.TrainSpec fields): makes it a training study;
                     a list value (seed = [0, 1, 2]) trains every grid point once per value
    [resources]      cpus, gpus per run, workers (parallel local runs)

Each ``[[grid]]`` block is a cartesian product; the study is the union of its blocks. Every problem
is reported as one line naming the file, the key and what is wrong.
"""

import dataclasses
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import model as zoo
from blvprof import external
from blvprof.errors import UserError
from blvprof.limits import BOUNDS, check, check_all
from blvprof.records import (
    DEFAULT_BUDGET,
    DEFAULT_METRICS,
    Counter,
    Device,
    Flags,
    Metric,
    Precision,
    Request,
    choose,
)
from blvprof.units import parse_bytes

_TABLES = ("study", "measure", "defaults", "grid", "speed", "train", "resources")


class StudyError(UserError):
    """A malformed study: the message names the file, the key and the problem."""


@dataclass(frozen=True)
class Point:
    """One model configuration: a registered name and its config overrides."""

    model: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Measure:
    """The [measure] table: what every grid point's :class:`Request` asks for."""

    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    counter: Counter = Counter.FVCORE  # or flop_counter (FlopCounterMode on fake tensors: fast)
    memory_budget: int = DEFAULT_BUDGET
    batch: int = 1
    device: Device = Device.AUTO
    precision: Precision = Precision.FP32
    warmup: int = 2
    steps: int = 5

    def request(self, point: Point) -> Request:
        return Request(point.model, point.overrides, metrics=self.metrics, batch=self.batch,
                       device=self.device, budget_bytes=self.memory_budget,
                       flags=Flags(precision=self.precision), warmup=self.warmup,
                       steps=self.steps, counter=self.counter)


@dataclass(frozen=True)
class Speed:
    """The [speed] table: points timed at their own size, batch and steps."""

    points: tuple[Point, ...] = ()
    size: int = 224
    quick_size: int = 112
    batch: int = 1
    warmup: int = 2
    steps: int = 5
    quick_steps: int = 3

    def request(self, measured: Request, quick: bool = False) -> Request:
        """A point's [measure] request, timed as this table says (counts by FlopCounterMode)."""
        return dataclasses.replace(
            measured, metrics=(Metric.FLOPS, Metric.PARAMS, Metric.SPEED), batch=self.batch,
            warmup=self.warmup, steps=self.quick_steps if quick else self.steps,
            counter=Counter.FLOP_COUNTER)


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0  # per run (Ray); local runs split the machine's cores among workers
    gpus: float = 0.0
    workers: int = 1  # local runs in parallel


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    source: str  # the file it came from, for messages
    points: tuple[Point, ...]
    measure: Measure = field(default_factory=Measure)
    speed: Speed | None = None
    train: dict[str, Any] | None = None  # TrainSpec fields, lists for a grid of recipes
    resources: Resources = field(default_factory=Resources)

    @property
    def kind(self) -> str:
        return "train" if self.train is not None else "profile"

    @property
    def recipes(self) -> list[dict[str, Any]]:
        """The training recipes: the cartesian product of the [train] table's list values."""
        return train_recipes(self.train) if self.train is not None else []


def train_recipes(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One recipe per combination of the list values in a [train] table, in file order."""
    keys = list(table)
    choices = [v if isinstance(v, list) else [v] for v in table.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices)]


def load_study(path: str | Path) -> Study:
    """Read and validate a study file."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{path}: no such study file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise StudyError(f"{path}: not valid TOML: {error}") from None
    return study_from_dict(data, str(path), default_name=path.stem)


def study_from_dict(data: Mapping[str, Any], source: str, default_name: str = "study") -> Study:
    unknown = [k for k in data if k not in _TABLES]
    if unknown:
        raise StudyError(f"{source}: unknown table [{unknown[0]}]; known: {', '.join(_TABLES)}")
    info = _table(data, "study", source)
    _check_keys(info, ("name", "description"), source, "study")
    name = _typed(info, "name", str, source, "study", default_name)
    try:
        check_name(name, "study.name")
    except UserError as error:
        raise StudyError(f"{source}: {error}") from None
    defaults = _table(data, "defaults", source)
    grids = data.get("grid")
    if not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise StudyError(f"{source}: [[grid]] must be one or more tables of model fields")
    points = _dedupe([p for i, g in enumerate(grids)
                      for p in expand(g, defaults, source, f"grid[{i}]")])
    if not points:
        raise StudyError(f"{source}: the grid is empty")
    speed = _speed(data["speed"], defaults, source) if "speed" in data else None
    _check_defaults(defaults, [*points, *(speed.points if speed else ())], source)
    study = Study(
        name=name,
        description=_typed(info, "description", str, source, "study", ""),
        source=source,
        points=tuple(points),
        measure=_measure(_table(data, "measure", source), source),
        speed=speed,
        train=_train(_table(data, "train", source), source) if "train" in data else None,
        resources=_resources(_table(data, "resources", source), source),
    )
    if study.train is not None:
        _check_trained_references(study)
    return study


def _check_trained_references(study: Study) -> None:
    """Each model reference built for each recipe's data on fake tensors: one that would fail
    before its first step (its output, its layout, its clip) fails here, not in every run."""
    from blvprof.train.trained_model import check_references

    try:
        check_references([(p.model, p.overrides) for p in study.points], study.recipes)
    except ValueError as error:
        raise StudyError(f"{study.source}: [train]: {error}") from None


def check_name(name: str, label: str = "study name") -> str:
    """``name`` if it is a plain file name: study files and reports are named after it, so a
    name must not reach outside their folder (``../x``, ``/abs/x``) or hide (``.x``)."""
    if (not name or len(name) > 128 or name.startswith(".") or name != name.strip()
            or any(c in name for c in "/\\\0:") or not name.isprintable()):
        raise UserError(f"{label} {name!r} must be a plain name (no path, not starting with '.')")
    return name


def expand(block: Mapping[str, Any], defaults: Mapping[str, Any], source: str,
           where: str) -> list[Point]:
    """The cartesian product of one grid block, each point validated against its model."""
    if "model" not in block:
        raise StudyError(f"{source}: {where}: missing key 'model'")
    models = _as_list(block["model"])
    keys = [k for k in block if k != "model"]
    value_lists = [_as_list(block[k]) for k in keys]
    for key, values in zip(keys, value_lists, strict=True):
        if not values:
            raise StudyError(f"{source}: {where}.{key}: empty list")
    points = []
    for model_name in models:
        if not isinstance(model_name, str):
            raise StudyError(f"{source}: {where}.model: expected a model name, got {model_name!r}")
        if external.is_reference(model_name):  # import it now: a bad one fails here, once
            _check_reference(model_name, source, where)
        base = {k: v for k, v in defaults.items() if _has_field(model_name, k)}
        for combo in itertools.product(*value_lists):
            overrides = {**base, **dict(zip(keys, combo, strict=True))}
            _validate(model_name, overrides, source, where)
            points.append(Point(model_name, overrides))
    return points


def _check_defaults(defaults: Mapping[str, Any], points: list[Point], source: str) -> None:
    """Each default must be a field of some model in the grid: a typo is not silently dropped."""
    models = sorted({point.model for point in points})
    for key in defaults:
        if not any(_has_field(model_name, key) for model_name in models):
            raise StudyError(f"{source}: defaults.{key}: no model in the grid has this field; "
                             f"models: {', '.join(models)}")


def _validate(model_name: str, overrides: dict[str, Any], source: str, where: str) -> None:
    try:
        check_all(overrides, f"{where}.")
        if external.is_reference(model_name):
            external.check_point(model_name, overrides)
        else:
            zoo.resolve_config(model_name, **overrides)
    except ValueError as error:
        raise StudyError(f"{source}: {where}: {error}") from None


def _check_reference(model_name: str, source: str, where: str) -> None:
    try:
        external.load_callable(model_name)
    except UserError as error:
        raise StudyError(f"{source}: {where}.model: {error}") from None


def _has_field(model_name: str, key: str) -> bool:
    if external.is_reference(model_name):
        return external.accepts(model_name, key)
    try:
        zoo.registry.field_type(model_name, key)
    except ValueError:
        return False
    return True


def _dedupe(points: list[Point]) -> list[Point]:
    seen, unique = set(), []
    for point in points:
        signature = (point.model, tuple(sorted(point.overrides.items())))
        if signature not in seen:
            seen.add(signature)
            unique.append(point)
    return unique


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise StudyError(f"{source}: [{name}] must be a table")
    return table


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], source: str,
           where: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise StudyError(f"{source}: {where}.{key}: expected {expected}, got {value!r}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], source: str,
                where: str) -> None:
    for key in table:
        if key not in allowed:
            raise StudyError(f"{source}: {where}.{key}: unknown key; known: {', '.join(allowed)}")


def _measure(table: Mapping[str, Any], source: str) -> Measure:
    known = tuple(f.name for f in fields(Measure))
    _check_keys(table, known, source, "measure")
    metrics = _typed(table, "metrics", list, source, "measure", list(Measure.metrics))
    if not metrics:
        raise StudyError(f"{source}: measure.metrics: empty list; name at least one metric")
    for metric in metrics:
        if metric not in tuple(Metric):
            raise StudyError(f"{source}: measure.metrics: unknown metric {metric!r}")
    counter = _choice(table, "counter", Counter, source, Measure.counter)
    budget = _typed(table, "memory_budget", str, source, "measure", None)
    try:
        budget_bytes = parse_bytes(budget) if budget is not None else Measure.memory_budget
    except ValueError as error:
        raise StudyError(f"{source}: measure.memory_budget: {error}") from None
    if not BOUNDS["memory_budget"].low <= budget_bytes <= BOUNDS["memory_budget"].high:
        raise StudyError(f"{source}: measure.memory_budget: {budget} is out of range: must be "
                         f"{BOUNDS['memory_budget'].describe()} bytes")
    return Measure(
        metrics=tuple(Metric(m) for m in metrics),
        counter=counter,
        memory_budget=budget_bytes,
        batch=_positive(table, "batch", source, "measure", Measure.batch),
        device=_choice(table, "device", Device, source, Measure.device),
        precision=_choice(table, "precision", Precision, source, Measure.precision),
        warmup=_bounded(table, "warmup", source, "measure", Measure.warmup),
        steps=_positive(table, "steps", source, "measure", Measure.steps),
    )


def _choice(table: Mapping[str, Any], key: str, vocabulary: type[StrEnum], source: str,
            default: StrEnum) -> Any:
    """A [measure] value of ``vocabulary`` (its member), or one line naming the choices."""
    value = _typed(table, key, str, source, "measure", default)
    try:
        return choose(vocabulary, value, f"measure.{key}:")
    except UserError as error:
        raise StudyError(f"{source}: {error}") from None


def _positive(table: Mapping[str, Any], key: str, source: str, where: str, default: int) -> int:
    value = _typed(table, key, int, source, where, default)
    if value < 1:
        raise StudyError(f"{source}: {where}.{key}: must be positive, got {value}")
    return _bounded(table, key, source, where, default)


def _bounded(table: Mapping[str, Any], key: str, source: str, where: str,
             default: Any, kind: type | tuple[type, ...] = int) -> Any:
    """A number of ``kind`` within its bound in :data:`blvprof.limits.BOUNDS`."""
    value = _typed(table, key, kind, source, where, default)
    try:
        return check(key, value, f"{where}.{key}")
    except UserError as error:
        raise StudyError(f"{source}: {error}") from None


def _speed(table: Any, defaults: Mapping[str, Any], source: str) -> Speed:
    if not isinstance(table, dict):
        raise StudyError(f"{source}: [speed] must be a table")
    known = ("grid", "size", "quick_size", "batch", "warmup", "steps", "quick_steps")
    _check_keys(table, known, source, "speed")
    grids = table.get("grid", [])
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise StudyError(f"{source}: [[speed.grid]] must be tables of model fields")
    points = [p for i, g in enumerate(grids)
              for p in expand(g, defaults, source, f"speed.grid[{i}]")]
    return Speed(
        points=tuple(_dedupe(points)),
        size=_positive(table, "size", source, "speed", Speed.size),
        quick_size=_positive(table, "quick_size", source, "speed", Speed.quick_size),
        batch=_positive(table, "batch", source, "speed", Speed.batch),
        warmup=_bounded(table, "warmup", source, "speed", Speed.warmup),
        steps=_positive(table, "steps", source, "speed", Speed.steps),
        quick_steps=_positive(table, "quick_steps", source, "speed", Speed.quick_steps),
    )


def _train(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The training recipe, checked by building the trainer's own spec from it."""
    from blvprof.train.spec import DEFAULT_SEEDS, TrainSpec

    _check_keys(table, tuple(f.name for f in fields(TrainSpec)), source, "train")
    from blvprof.data import DataError, build_datasets, parse_data_spec

    for key, value in table.items():
        if isinstance(value, list) and not value:
            raise StudyError(f"{source}: train.{key}: an empty list trains nothing")
    checked = set()
    try:
        for recipe in train_recipes(table):
            # TrainSpec's `workers` are DataLoader processes (0 allowed), not sweep workers
            for key, value in recipe.items():
                check("loader_workers" if key == "workers" else key, value, key)
            spec = TrainSpec(**recipe)
            data = (spec.data, spec.size, spec.skip_bad)
            if data not in checked:  # reads list files and checks that folders exist: bad
                checked.add(data)  # data fails here, not in a worker
                build_datasets(parse_data_spec(spec.data), 2, spec.size, skip_bad=spec.skip_bad)
    except DataError as error:  # names its own file and line: "…/train.txt:1: …"
        raise StudyError(f"{source}: train.data: {error}") from None
    except ValueError as error:  # a TrainSpec field: "epochs=0 must be at least 1"
        raise StudyError(f"{source}: train.{error}") from None
    seeds = table.get("seed", list(DEFAULT_SEEDS))  # one seed cannot tell luck from an effect
    return {**table, "data": _canonical_data(table.get("data", TrainSpec.data)), "seed": seeds}


def _canonical_data(data: Any) -> Any:
    """The data spec(s) with the synthetic benchmark's version written out: part of each key."""
    from blvprof.data.spec import canonical_data_spec

    return [canonical_data_spec(d) for d in data] if isinstance(data, list) else (
        canonical_data_spec(data)
    )


def _resources(table: Mapping[str, Any], source: str) -> Resources:
    _check_keys(table, ("cpus", "gpus", "workers"), source, "resources")
    return Resources(
        cpus=float(_bounded(table, "cpus", source, "resources", Resources.cpus, (int, float))),
        gpus=float(_bounded(table, "gpus", source, "resources", Resources.gpus, (int, float))),
        workers=_positive(table, "workers", source, "resources", Resources.workers),
    )


def study_to_toml(data: Mapping[str, Any]) -> str:
    """TOML text for a study dict (tables of scalars and lists, and arrays of tables)."""
    lines: list[str] = []
    for name in _TABLES:
        if name not in data:
            continue
        tables = data[name] if isinstance(data[name], list) else [data[name]]
        for table in tables:
            lines.append(f"[[{name}]]" if isinstance(data[name], list) else f"[{name}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise StudyError(f"cannot write {value!r} to a study file")
