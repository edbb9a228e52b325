"""Checks shared by the report tests: links in markdown, and PNG files."""

import re
from pathlib import Path

from matplotlib.image import imread

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def links(markdown: Path) -> list[Path]:
    """Files a markdown file links to (images and pages), resolved beside it."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown.read_text())
    return [markdown.parent / t for t in targets if "://" not in t]


def assert_png(path: Path) -> None:
    """``path`` is a PNG that matplotlib reads back as a picture of a sensible size."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = imread(path)
    height, width = pixels.shape[:2]
    assert 400 < width < 2500 and 300 < height < 2000, (path, width, height)
