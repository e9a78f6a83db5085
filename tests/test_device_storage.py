"""dcgan_lib.device and dcgan_lib.storage: the device asked for, the machine in words, and
files that are whole or absent."""

import json
import math

import numpy as np
import pytest
import torch

from dcgan_lib.config import ConfigError
from dcgan_lib.device import describe_machine, device_label, resolve_device
from dcgan_lib.storage import atomic_write, plain, write_json


def test_auto_picks_what_this_machine_has():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_cuda_without_cuda_says_what_to_use():
    with pytest.raises(ConfigError, match="use --device cpu"):
        resolve_device("cuda:0")


def test_the_machine_in_words_names_its_cores_torch_and_python():
    text = describe_machine(torch.device("cpu"))
    assert "-core " in text and f"torch {torch.__version__}" in text and "Python 3." in text
    assert device_label(torch.device("cpu")) == "cpu"


def test_plain_makes_strict_json():
    x = {"a": np.float32(0.5), "b": [np.int64(3), (1, 2)], "c": float("nan"), "d": np.arange(2)}
    assert plain(x) == {"a": 0.5, "b": [3, [1, 2]], "c": None, "d": [0, 1]}
    assert plain(math.inf) is None and plain("text") == "text"


def test_write_json_replaces_whole_files_and_leaves_no_temp(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"x": np.float64(1.25), "bad": float("inf")})
    assert json.loads(path.read_text()) == {"x": 1.25, "bad": None}
    assert path.read_text().endswith("\n")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert json.loads(path.read_text()) == {"x": 1.25, "bad": None}  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
