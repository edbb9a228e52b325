"""Rendering never imports torch: every module of blvprof.report loads without it."""

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import blvprof.report
for module in pkgutil.iter_modules(blvprof.report.__path__):
    importlib.import_module(f"blvprof.report.{module.name}")
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not loaded, loaded
print("ok", len(list(pkgutil.iter_modules(blvprof.report.__path__))))
"""


def test_report_modules_do_not_import_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
