"""The command line: one table of commands, each naming its run function, built without torch."""

import subprocess
import sys

import pytest

from dcgan_lib.__main__ import main, parser
from dcgan_lib.studies import cli


def _subparsers():
    (sub,) = [a for a in parser()._actions if a.dest == "command"]
    return sub.choices


def _choices(command: str, dest: str, parent=None) -> list:
    p = (parent or _subparsers())[command]
    (action,) = [a for a in p._actions if a.dest == dest and a.choices is not None][:1]
    return list(action.choices)


def test_every_command_names_its_run_function_and_no_argument_hides_it():
    for name, p in _subparsers().items():
        run = p.get_default("run")
        assert isinstance(run, cli.Run) and callable(run.resolve()), name
        assert "run" not in {a.dest for a in p._actions}, name  # would replace the function


# What `--help` and the argument errors may import: no torch, no command module, no plotting.
HEAVY = ("torch", "torchvision", "torchmetrics", "matplotlib", "sklearn", "scipy", "PIL", "tqdm")
PROBE = """
import sys
from dcgan_lib.__main__ import parser
p = parser()
(sub,) = [a for a in p._actions if a.dest == "command"]
for name, sp in sub.choices.items():
    sp.format_help()
try:
    p.parse_args({argv!r})
except SystemExit as e:
    print("exit", e.code)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
commands = sorted(m for m in sys.modules if m.startswith("dcgan_lib.") and m not in {light!r})
print("heavy", loaded, "commands", commands)
"""
LIGHT = (
    "dcgan_lib.__main__", "dcgan_lib.config", "dcgan_lib.datasets", "dcgan_lib.experiments",
    "dcgan_lib.studies", "dcgan_lib.studies.cli",
)  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["train", "--help"], ["reproduce", "--help"], ["forgetting", "study", "--help"],
     ["experiment", "no_such_experiment"], ["latent", "--size", "huge"], ["train"]],
)  # fmt: skip
def test_help_and_argument_errors_import_no_torch_and_no_command_module(argv):
    code = PROBE.format(argv=argv, heavy=HEAVY, light=LIGHT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "exit 0" in out.stdout or "exit 2" in out.stdout, out.stdout + out.stderr
    assert out.stdout.strip().endswith("heavy [] commands []"), out.stdout


def test_the_table_spells_what_the_command_modules_define():
    from dcgan_lib import attributes, forgetting, svm
    from dcgan_lib.studies import dedup, dedup_sweep, features, guided_backprop, latent
    from dcgan_lib.studies import forgetting as forgetting_study

    sub = _subparsers()
    for command, study in [("dedup-study", dedup), ("features", features)]:
        assert _choices(command, "size") == sorted(study.SIZES), command
    assert _choices("dedup-sweep", "size") == list(dedup_sweep.SIZES)
    for command, study in [("latent", latent), ("guided-backprop", guided_backprop)]:
        assert _choices(command, "size") == sorted(study.SIZES), command
    (forget,) = [a for a in sub["forgetting"]._actions if a.dest == "forgetting_command"]
    assert _choices("study", "size", forget.choices) == sorted(forgetting_study.SIZES)
    assert _choices("latent", "parts") == list(latent.PARTS)
    assert _choices("guided-backprop", "model") == sorted(guided_backprop.MODELS)
    assert _choices("features", "solver") == ["auto", *svm.SOLVERS]
    assert cli.FEATURE_VARIANTS == features.VARIANTS
    assert _choices("features", "d") == list(cli.FEATURE_D) == sorted(features.D_SOURCES)
    assert _choices("features", "solver_all") == list(svm.SOLVERS)
    assert cli.FORGETTING_STORED == forgetting_study.STORED
    fit = parser().parse_args(["forgetting", "fit", "--generator", "g", "--boxes", "b"])
    assert fit.layer == forgetting.DEFAULT_LAYER
    a = parser().parse_args(["attributes"])
    assert (a.epochs, a.seed) == (
        attributes.AttributeConfig.epochs,
        attributes.AttributeConfig.seed,
    )
    # every train flag sets the TrainConfig field of its name
    from dcgan_lib.config import TrainConfig
    from dcgan_lib.train import config_from_args

    cfg = config_from_args(parser().parse_args(["train", "--out", "r", "--lr", "0.001"]))
    assert cfg.lr == 0.001 and cfg.batch_size == TrainConfig().batch_size
    fields = set(TrainConfig.__dataclass_fields__)
    assert {name for name, _, _ in cli.TRAIN_FLAGS} <= fields


def test_every_data_root_option_states_the_one_rule():
    from dcgan_lib.datasets import DATA_ROOT_RULE

    for name, p in _subparsers().items():
        for action in p._actions:
            if action.dest == "data_root" and name != "download":  # download: where to put it
                assert DATA_ROOT_RULE in action.help, name


def test_export_copies_a_run_and_records_the_command(tmp_path, monkeypatch):
    from _smoke import DATA, smoke_cfg

    from dcgan_lib.artifacts import read_manifest
    from dcgan_lib.train import train

    train(smoke_cfg(tmp_path / "run", epochs=1, deterministic=False), data=DATA, progress=False)
    monkeypatch.setenv("DCGAN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setattr("sys.argv", ["dcgan_lib", "export", str(tmp_path / "run"), "--name", "d"])
    assert main(["export", str(tmp_path / "run"), "--name", "d"]) == 0
    entry = read_manifest(tmp_path / "artifacts")["files"]["d/G.pt"]
    assert entry["command"] == f"python -m dcgan_lib export {tmp_path / 'run'} --name d"


def test_a_user_error_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["dedup", "--data", "synthetic_nonsense", "--out", str(tmp_path / "k")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["dedup-study", "--mode", "smoke"],
        ["reproduce", "--smoke"],
        ["latent", "--mode", "smoke"],
        ["guided-backprop", "--mode", "smoke"],
        ["forgetting", "study", "--mode", "smoke"],
    ],
)
def test_old_spellings_still_parse(argv):
    assert parser().parse_args(argv).size == "smoke"
