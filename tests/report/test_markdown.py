"""Markdown helpers: tables, formats, the environment and failed-runs blocks."""

from blvprof.report import markdown


def test_table_aligns_and_escapes() -> None:
    text = markdown.table(["model", "GMACs"], [["a|b", "1.00"]], "lr")
    assert text.splitlines() == ["| model | GMACs |", "|:--|--:|", "| a\\|b | 1.00 |"]


def test_number_formats() -> None:
    assert markdown.number(None) == "–"
    assert markdown.number(1234.5, 1) == "1,234.5"
    assert markdown.times(2.7436) == "2.74×"
    assert markdown.percent(0.5) == "50.0 %"
    assert markdown.signed_percent(0.0021) == "+0.21 %"


def test_environment_block_has_one_column_per_environment() -> None:
    cpu = {
        "device": "cpu",
        "device_name": "AMD EPYC",
        "torch": "2.13.0",
        "cpu_threads": 2,
        "precision": "fp32",
        "channels_last": False,
        "compiled": True,
        "git_commit": "abc",
    }
    gpu = {**cpu, "device": "cuda", "device_name": "NVIDIA H100"}
    text = markdown.environment_block([{"env": cpu}, {"env": cpu}, {"env": gpu}, {"env": None}])
    assert "| field | 2 runs | 1 run |" in text
    assert "AMD EPYC" in text and "NVIDIA H100" in text
    assert "torch.compile on" in text and "channels-last off" in text


def test_failed_runs_block_lists_every_failure() -> None:
    runs = [
        {
            "model": "tsn",
            "family": "tsn",
            "config": {"depth": 50, "num_frames": 64},
            "kind": "profile",
            "status": "oom",
            "key": "k1",
            "error": "CUDA out of memory.\nTraceback",
        },
        {
            "model": "tsn",
            "family": "tsn",
            "config": {},
            "kind": "train",
            "status": "ok",
            "key": "k2",
        },
    ]
    text = markdown.failed_runs_block(runs)
    assert "TSN-R50" in text and "oom" in text and "CUDA out of memory." in text
    assert "Traceback" not in text and "k2" not in text
    assert markdown.failed_runs_block(runs[1:]) == "None: every run finished."
