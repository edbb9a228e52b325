"""Rendering reads records only: no module of blvprof.report imports torch or blvprof.measure."""

import ast
import subprocess
import sys
from pathlib import Path

import blvprof.report

FORBIDDEN = ("torch", "blvprof.measure")
CHECK = f"""
import importlib, pkgutil, sys
import blvprof.report
for module in pkgutil.iter_modules(blvprof.report.__path__):
    importlib.import_module(f"blvprof.report.{{module.name}}")
loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".")
                                              for f in {FORBIDDEN!r}))
assert not loaded, loaded
print("ok", len(list(pkgutil.iter_modules(blvprof.report.__path__))))
"""


def test_report_modules_load_without_torch_or_measure() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def _imported(path: Path) -> set[str]:
    """Every module an import statement in ``path`` names, at any depth (in functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_report_file_names_torch_or_measure_in_an_import() -> None:
    files = sorted(Path(blvprof.report.__file__).parent.glob("*.py"))
    assert len(files) > 5
    found = {f"{path.name}: {name}" for path in files for name in _imported(path)
             if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert not found, sorted(found)
