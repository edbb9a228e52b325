"""Run the real ``blvprof`` entry point in-process and capture what it prints and returns."""

import sys
from dataclasses import dataclass

import pytest

from blvprof.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Result:
    monkeypatch.setattr(sys, "argv", ["blvprof", *args])
    with pytest.raises(SystemExit) as done:
        main()
    captured = capsys.readouterr()
    return Result(int(done.value.code or 0), captured.out, captured.err)
