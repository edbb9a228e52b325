"""The data layer for short training runs: a synthetic order-sensitive benchmark, TSN frame folders
and video files, all yielding (clip (3, T, H, W) float32, label) pairs.
"""

from blvprof.data.build import DataBundle, build_datasets
from blvprof.data.clips import ClipSet
from blvprof.data.spec import DataError, DataSpec, parse_data_spec

__all__ = ["ClipSet", "DataBundle", "DataError", "DataSpec", "build_datasets", "parse_data_spec"]
