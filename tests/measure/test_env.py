"""Every record carries its environment."""

from blvprof.measure.env import Flags, environment, machine


def test_environment_names_machine_device_and_flags() -> None:
    env = environment("cpu", Flags(precision="bf16", channels_last=True, seed=3))
    for key in ("torch", "python", "cpu", "cpu_threads", "git_commit", "blvprof", "platform"):
        assert key in env
    assert env["device"] == "cpu" and env["device_name"] == env["cpu"]
    assert (env["precision"], env["channels_last"], env["seed"]) == ("bf16", True, 3)
    assert machine() is machine()  # collected once per process
