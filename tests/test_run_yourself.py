"""What a reader runs themselves: the page runs the loop file, and the cost of each command a page
offers is read from the stored measurements, or "not measured"."""

import importlib.util
import json
import shlex

from dcgan_lib import artifacts, run_yourself
from dcgan_lib.book import repo_root


def _benchmark():
    path = repo_root() / "benchmarks" / "exercise_costs.py"
    spec = importlib.util.spec_from_file_location("exercise_costs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_runs_the_loop_file_in_smoke_mode(tmp_path):
    out, printed = run_yourself.run_minimal_loop("--smoke", "--epochs", "1", out=tmp_path)
    assert out == tmp_path and (tmp_path / "epoch_001.png").is_file()
    assert printed.startswith("epoch 1: loss_D ")
    assert run_yourself.loop_source().startswith('"""DCGAN')


def _store(root, commands: dict) -> None:
    path = root / run_yourself.COSTS
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"commands": commands}))
    artifacts.register(run_yourself.COSTS, path, "python benchmarks/exercise_costs.py", root=root)


def test_cost_text_reads_the_stored_measurement_or_says_not_measured(tmp_path):
    entry = {"command": "python x.py", "cpu_seconds": 41.2, "wall_seconds": 130.0,
             "machine": "2-core CPU", "note": "shared with other jobs"}  # fmt: skip
    assert run_yourself.cost_text("loop", tmp_path) == "not measured"  # nothing stored
    _store(tmp_path, {"loop": entry, "long": entry | {"cpu_seconds": 7300.0}})
    assert run_yourself.cost("loop", tmp_path)["command"] == "python x.py"
    assert run_yourself.cost_text("loop", tmp_path) == (
        "41 s of CPU time (2.2 min wall) on 2-core CPU, shared with other jobs"
    )
    assert run_yourself.cost_text("long", tmp_path).startswith("2.0 h of CPU time")
    short = run_yourself.cost_text("loop", tmp_path, machine=False)
    assert short == "41 s of CPU time (2.2 min wall)"
    assert run_yourself.machine_text(["loop", "long", "other"], tmp_path) == (
        "on 2-core CPU, shared with other jobs"
    )
    assert run_yourself.machine_text(["other"], tmp_path) == ""
    assert run_yourself.cost_text("other", tmp_path) == "not measured"
    with open(tmp_path / run_yourself.COSTS, "a") as f:
        f.write(" ")  # changed after it was registered: not trusted
    assert run_yourself.cost_text("loop", tmp_path) == "not measured"


def test_every_command_is_measured_as_the_benchmark_runs_it():
    """The stored measurements are of today's commands: a command changed in the benchmark
    without measuring it again fails here."""
    commands = _benchmark().COMMANDS
    stored = run_yourself.costs()["commands"]
    assert set(stored) == set(commands)
    for key, (command, pages, _what) in commands.items():
        assert stored[key]["command"] == command and stored[key]["pages"] == list(pages)
        assert stored[key]["cpu_seconds"] > 0 and "CPU" in stored[key]["machine"]
        for part in shlex.split(command)[1:2]:  # the script a reader runs is in the repository
            if part.endswith(".py"):
                assert (repo_root() / part).is_file(), part
