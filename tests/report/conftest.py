"""Fixture rows for the report tests (no torch: reports render from stored records alone).

``fixtures/paper_claims.json`` holds real rows of ``blvprof compare`` (MACs, params, memory
estimated at a 12 GiB budget; speed on CPU at 112² for TSN-R50 and bLVNet-TAM-50, 16 frames)
relabelled as the paper_claims study, plus an 'oom' and an 'error' row, and bLVNet-TAM-50 in
reference mode at 16 and 32 frames (real memory estimates beside the 16- and 32-frame rows' counts).
``fixtures/studies.json`` holds a profile study (TSN vs bLVNet-TAM-50 at 16 and 32 frames) and two
training studies made by hand around real MAC counts: α×β of bLVNet-TAM next to TSN, and frames ×
TAM on/off, with pair accuracies and one 'oom' run.
"""

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def paper_rows() -> list[dict[str, Any]]:
    return load("paper_claims.json")


@pytest.fixture(scope="session")
def study_rows() -> list[dict[str, Any]]:
    return load("studies.json")
