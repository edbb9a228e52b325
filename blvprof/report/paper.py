"""The paper's numbers, as constants (Fan et al., "More Is Less", NeurIPS 2019, arXiv 1912.00869).

"FLOPs" in the paper are multiply-accumulates of conv and linear layers for one clip at 224×224
with 174 classes (Something-Something); "8×2" means 16 input frames. See docs/paper.md.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """A bLVNet-TAM row of the Something-Something tables (α=2, β=4, 224², 174 classes)."""

    depth: int
    frames: int  # input frames: 8×2 is 16
    gmacs: float
    params_m: float


PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow(depth=50, frames=16, gmacs=23.8, params_m=25.0),
    PaperRow(depth=50, frames=32, gmacs=47.7, params_m=25.0),
    PaperRow(depth=101, frames=16, gmacs=32.1, params_m=40.2),
    PaperRow(depth=101, frames=32, gmacs=64.3, params_m=40.2),
    PaperRow(depth=101, frames=48, gmacs=96.4, params_m=40.2),
    PaperRow(depth=101, frames=64, gmacs=128.6, params_m=40.2),
)
PAPER_SIDE = 224
PAPER_CLASSES = 174
PAPER_ALPHA, PAPER_BETA = 2, 4

# Figure 3b: the largest training batch that fits on one GPU (model not stated), by input frames.
FIG3B_TSN_R50: dict[int, int] = {8: 21, 16: 10, 24: 6, 32: 4}
FIG3B_BLVNET_TAM_50: dict[int, int] = {16: 17, 32: 8, 48: 5, 64: 3}
