"""The blvprof model zoo: bLVNet-TAM and its baselines, all taking (N, C, T, H, W) clips."""

from model import blvnet_tam, i3d, tsn  # noqa: F401  (registers the families)
from model.registry import (
    InputSpec,
    config_fields,
    create_model,
    get_entry,
    list_models,
    resolve_config,
)

__all__ = [
    "InputSpec",
    "config_fields",
    "create_model",
    "get_entry",
    "list_models",
    "resolve_config",
]
