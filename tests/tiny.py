"""Tiny configurations that keep behaviour tests fast on a 2-core CPU."""

from model import config_fields

TINY = dict(depth=26, base_width=8, num_frames=4, num_classes=5, image_size=64, dropout=0.0)


def tiny_overrides(name: str, **changes: object) -> dict:
    """Overrides that make any registered model tiny (depth 26, width 8, 4 frames, 64²)."""
    fields = {f.name for f in config_fields(name)}
    overrides = {k: v for k, v in TINY.items() if k in fields}
    if "beta" in fields:
        overrides["beta"] = 2  # depth 26 has two blocks per stage
    return {**overrides, **changes}
