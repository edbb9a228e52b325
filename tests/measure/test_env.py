"""Every record carries its environment."""

from blvprof.measure.env import Flags, environment, machine


def test_environment_names_machine_device_and_flags() -> None:
    env = environment("cpu", Flags(precision="bf16", channels_last=True, seed=3))
    for key in ("torch", "python", "cpu", "cpu_threads", "git_commit", "blvprof", "platform"):
        assert key in env
    assert env["device"] == "cpu" and env["device_name"] == env["cpu"]
    assert (env["precision"], env["channels_last"], env["seed"]) == ("bf16", True, 3)
    assert machine() is machine()  # collected once per process


def test_environment_records_the_tf32_settings() -> None:
    import torch

    env = environment("cpu", Flags())
    assert env["cudnn_allow_tf32"] == torch.backends.cudnn.allow_tf32
    assert env["matmul_allow_tf32"] == torch.backends.cuda.matmul.allow_tf32
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = not saved
    try:  # read at each measurement, not cached with the machine's facts
        assert environment("cpu", Flags())["cudnn_allow_tf32"] is (not saved)
    finally:
        torch.backends.cudnn.allow_tf32 = saved
