"""Shared set-up of the data tests: clip_files.py (the dataset writers) importable."""

import sys
from pathlib import Path

# The tests import their file writers from clip_files.py beside them, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))
