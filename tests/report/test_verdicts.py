"""The plain-words verdicts and their thresholds."""

from blvprof.report import verdicts


def test_flops_verdict_within_below_and_above() -> None:
    assert verdicts.flops_verdict("TSN-R101", "bLVNet-TAM-101", 3.88) == (
        "TSN-R101 vs bLVNet-TAM-101: 3.88× fewer MACs — within the claimed 3–4×"
    )
    assert verdicts.flops_verdict("TSN-R50", "bLVNet-TAM-50", 2.74, holds_at=[101]) == (
        "TSN-R50 vs bLVNet-TAM-50: 2.74× fewer MACs — below the claimed 3–4× "
        "(the claim holds for the 101-layer pair only)"
    )
    assert "above the claimed" in verdicts.flops_verdict("I3D-R50", "bLVNet-TAM-50", 4.6)
    assert verdicts.flops_standing(2.95) == "within"
    assert verdicts.flops_standing(2.94) == "below"
    assert verdicts.flops_standing(4.05) == "within"


def test_memory_verdict() -> None:
    about = verdicts.memory_verdict("TSN-R50", "bLVNet-TAM-50", [1.97, 2.01])
    assert "1.97–2.01×" in about and "about 2×, as the paper claims" in about
    assert "not about 2×" in verdicts.memory_verdict("TSN-R50", "bLVNet-TAM-50", [1.6, 1.8])
    assert "no verdict" in verdicts.memory_verdict("TSN-R50", "bLVNet-TAM-50", [])


def test_rows_verdict() -> None:
    assert verdicts.rows_verdict({"a": 0.002, "b": -0.004}) == (
        "All 2 measured figures are within 0.5 % of the paper."
    )
    text = verdicts.rows_verdict({"a": 0.002, "b": 0.03, "c": None})
    assert text == "Not within 0.5 % of the paper: b (+3.00 %); not measured: c."


def test_speed_verdict_names_the_realized_share() -> None:
    text = verdicts.speed_verdict("bLVNet-TAM-50", "TSN-R50", 16, 2.74, 1.10, 0.8, "cpu (AMD EPYC)")
    assert "2.74× fewer MACs than TSN-R50, 1.10× faster at inference" in text
    assert "1.25× slower per training step" in text
    assert "realizes 40 % / 29 % of the MAC saving" in text
