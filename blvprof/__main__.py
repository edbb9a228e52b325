"""``python -m blvprof``: the command line (blvprof.cli)."""

from blvprof.cli import main

main()
