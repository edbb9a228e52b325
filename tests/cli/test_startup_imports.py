"""The command line starts without the libraries only some commands need."""

import subprocess
import sys


def test_the_cli_imports_no_plotting_statistics_or_tables_at_start_up() -> None:
    code = ("import sys, blvprof.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'matplotlib', 'scipy', 'pandas', 'pyarrow'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
