"""Study files: parsing, validation (one line naming file, key and problem), round trip."""

from pathlib import Path

import pytest

from blvprof.study import StudyError, load_study, study_from_dict, study_to_toml
from blvprof.sweep import plan

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.toml")), ids=lambda p: p.name)
def test_committed_studies_load(path: Path) -> None:
    study = load_study(path)
    assert study.points and study.name


def test_paper_claims_grid() -> None:
    study = load_study(STUDIES / "paper_claims.toml")
    assert len(study.points) == 56  # 52 paper rows + bLVNet-TAM-50 in reference mode at 4 lengths
    assert sum(p.overrides.get("reference", False) for p in study.points) == 4
    assert study.measure.memory_budget == 12 * 2**30
    blv = [p for p in study.points if p.model == "blvnet_tam"]
    assert sorted({p.overrides["num_frames"] for p in blv}) == [16, 32, 48, 64]
    assert all(p.overrides["num_classes"] == 174 for p in study.points)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[grid]\nmodel = 'tsn'", "not valid TOML"),
        ("[[grid]]\nmodel = 'nope'", "grid[0]: unknown model 'nope'"),
        ("[[grid]]\nmodel = 'tsn'\nalpha = [2]", "grid[0]: tsn has no field 'alpha'"),
        ("[[grid]]\nmodel = 'tsn'\nnum_frames = ['8']", "num_frames='8' has type str"),
        ("[[grid]]\nmodel = 'blvnet_tam'\nnum_frames = [7]", "num_frames=7"),
        ("[[grid]]\nmodel = 'tsn'\nnum_frames = []", "grid[0].num_frames: empty list"),
        ("[[grid]]\nnum_frames = [8]", "grid[0]: missing key 'model'"),
        ("grid = []", "[[grid]] must be one or more tables"),
        ("[study]\nname = 3\n[[grid]]\nmodel = 'tsn'", "study.name: expected str, got 3"),
        ("[measure]\nmetrics = ['watts']\n[[grid]]\nmodel = 'tsn'", "unknown metric 'watts'"),
        ("[measure]\nmetrics = []\n[[grid]]\nmodel = 'tsn'", "measure.metrics: empty list"),
        ("[measure]\nbatch = 0\n[[grid]]\nmodel = 'tsn'", "measure.batch: must be positive"),
        ("[measure]\nbatch = true\n[[grid]]\nmodel = 'tsn'", "measure.batch: expected int"),
        ("[measure]\nmemory_budget = 'lots'\n[[grid]]\nmodel = 'tsn'", "measure.memory_budget"),
        ("[measure]\ncolour = 1\n[[grid]]\nmodel = 'tsn'", "measure.colour: unknown key"),
        ("[extras]\n[[grid]]\nmodel = 'tsn'", "unknown table [extras]"),
        ("[defaults]\nnum_frame = 16\n[[grid]]\nmodel = ['tsn', 'blvnet_tam']",
         "defaults.num_frame: no model in the grid has this field"),
        ("[defaults]\nbeta = 2\n[[grid]]\nmodel = 'tsn'",
         "defaults.beta: no model in the grid has this field; models: tsn"),
        ("[study]\nnmae = 'x'\n[[grid]]\nmodel = 'tsn'", "study.nmae: unknown key"),
    ],
)
def test_malformed_study_names_file_key_and_problem(tmp_path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(StudyError) as error:
        load_study(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(StudyError, match="no such study file"):
        load_study(tmp_path / "nope.toml")


def test_grid_blocks_are_cartesian_products_with_defaults(tmp_path) -> None:
    study = load_study(write(tmp_path, """
[defaults]
num_classes = 10
alpha = 2
[[grid]]
model = ["tsn", "blvnet_tam"]
num_frames = [8, 16]
[[grid]]
model = "tsn"
num_frames = 8
"""))
    assert len(study.points) == 4  # the second block repeats a point of the first
    tsn = [p for p in study.points if p.model == "tsn"]
    assert all("alpha" not in p.overrides and p.overrides["num_classes"] == 10 for p in tsn)
    blv = [p for p in study.points if p.model == "blvnet_tam"]
    assert all(p.overrides["alpha"] == 2 for p in blv)


def test_a_default_that_only_a_speed_point_has_is_kept(tmp_path) -> None:
    study = load_study(write(tmp_path, """
[defaults]
beta = 2
[[grid]]
model = "tsn"
[speed]
[[speed.grid]]
model = "blvnet_tam"
"""))
    assert "beta" not in study.points[0].overrides
    assert study.speed is not None and study.speed.points[0].overrides["beta"] == 2


def test_toml_round_trip() -> None:
    data = {"study": {"name": "x"}, "grid": [{"model": ["tsn"], "num_frames": [4, 8],
                                             "dropout": 0.25}],
            "train": {"data": 'synthetic:classes=4', "epochs": 1, "deterministic": True}}
    text = study_to_toml(data)
    import tomllib

    assert tomllib.loads(text) == data
    # the recipe names the benchmark version (part of every key) and three seeds by default
    canonical = {**data["train"], "data": "synthetic:classes=4,version=3", "seed": [0, 1, 2]}
    assert study_from_dict(tomllib.loads(text), "x").train == canonical


def test_plan_keys_are_stable_and_unique() -> None:
    study = load_study(STUDIES / "paper_claims.toml")
    first, again = plan(study), plan(study)
    assert [t.key for t in first] == [t.key for t in again]
    assert len({t.key for t in first}) == len(first) == 59  # 56 grid points + 3 timed
    quick = plan(study, quick=True)
    timed = [t for t in quick if "speed" in t.request.metrics]
    assert {t.overrides["image_size"] for t in timed} == {112}
    assert {t.key for t in quick} != {t.key for t in first}


TRAIN_GRID = """
[[grid]]
model = ["tsn", "tsm"]
depth = 26
[train]
data = "synthetic:classes=4,samples=8"
epochs = 1
size = 32
seed = [0, 1, 2]
"""


def test_a_train_list_trains_every_point_once_per_value(tmp_path) -> None:
    study = load_study(write(tmp_path, TRAIN_GRID))
    assert [r["seed"] for r in study.recipes] == [0, 1, 2]
    tasks = plan(study)
    assert len(tasks) == len({t.key for t in tasks}) == 6
    assert sorted((t.model, t.train["seed"]) for t in tasks) == [
        (m, s) for m in ("tsm", "tsn") for s in (0, 1, 2)
    ]
    assert tasks[1].label == "tsn(depth=26; seed=1)"


def test_a_scalar_train_table_keeps_its_run_keys(tmp_path) -> None:
    """One recipe is the table itself, so stores written before train grids are reused."""
    from blvprof.store import digest

    study = load_study(write(tmp_path, TRAIN_GRID.replace("[0, 1, 2]", "1")))
    (task, _) = plan(study)
    assert task.train == study.train and task.label == "tsn(depth=26)"
    written = {"metrics": ["flops", "params", "memory"], "batch": 1, "device": "auto",
               "budget_bytes": 16 * 2**30, "precision": "fp32", "warmup": 2, "steps": 5,
               "counter": "fvcore"}  # as earlier releases wrote a request into the key
    assert task.key == digest({"kind": "train", "model": "tsn", "overrides": task.overrides,
                               "request": written, "train": study.train})


@pytest.mark.parametrize(
    ("value", "message"),
    [("[]", "train.seed: an empty list trains nothing"), ("[0, 'x']", "seed='x' must be int")],
)
def test_bad_train_lists(tmp_path, value: str, message: str) -> None:
    path = write(tmp_path, TRAIN_GRID.replace("[0, 1, 2]", value))
    with pytest.raises(StudyError) as error:
        load_study(path)
    assert str(path) in str(error.value) and message in str(error.value)
