"""The command line: one table of command modules, each naming its run function."""

import pytest

from dcgan_lib.__main__ import main, parser


def _subparsers():
    (sub,) = [a for a in parser()._actions if a.dest == "command"]
    return sub.choices


def test_every_command_names_its_run_function_and_no_argument_hides_it():
    for name, p in _subparsers().items():
        assert callable(p.get_default("run")), name
        assert "run" not in {a.dest for a in p._actions}, name  # would replace the function


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
