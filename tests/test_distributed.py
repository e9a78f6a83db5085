"""Data-parallel training (torchrun, gloo on the CPU): averaged gradients, SyncBatchNorm, and
2 ranks x 8 images computing what one process computes with batches of 16."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from _smoke import DATA, smoke_cfg

from dcgan_lib.checkpoint import load_checkpoint
from dcgan_lib.config import ConfigError, get_model_config
from dcgan_lib.distributed import Dist
from dcgan_lib.models import Discriminator, Generator
from dcgan_lib.storage import read_jsonl
from dcgan_lib.train import train

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gradients_are_averaged_and_syncbn_uses_the_global_batch(tmp_path):
    import _dist_worker

    mp.start_processes(
        _dist_worker.run,
        args=(2, _free_port(), str(tmp_path)),
        nprocs=2,
        start_method="spawn",
    )
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    # each rank saw other images, so its own gradients differ; after averaging they are the same
    # on both ranks, bit for bit, and equal to the mean of the two
    assert not all(torch.equal(a, b) for a, b in zip(r0["local"], r1["local"], strict=True))
    for a0, a1, l0, l1 in zip(
        r0["averaged"], r1["averaged"], r0["local"], r1["local"], strict=True
    ):
        assert torch.equal(a0, a1)
        assert torch.allclose(a0, (l0 + l1) / 2, rtol=1e-6, atol=1e-9)

    # SyncBatchNorm on the two halves = BatchNorm on the whole batch of 16: outputs, input
    # gradients, parameter gradients (summed over ranks) and running statistics
    x = torch.randn(16, 4, 5, 5, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    w = torch.randn(16, 4, 5, 5, generator=torch.Generator().manual_seed(4))
    bn = torch.nn.BatchNorm2d(4)
    y = bn(x)
    (y * w).sum().backward()
    assert torch.allclose(torch.cat([r0["bn_y"], r1["bn_y"]]), y, atol=1e-5)
    assert torch.allclose(torch.cat([r0["bn_x_grad"], r1["bn_x_grad"]]), x.grad, atol=1e-5)
    assert torch.allclose(r0["bn_weight_grad"] + r1["bn_weight_grad"], bn.weight.grad, atol=1e-4)
    assert torch.allclose(r0["bn_bias_grad"] + r1["bn_bias_grad"], bn.bias.grad, atol=1e-4)
    for r in (r0, r1):
        assert torch.allclose(r["bn_running"][0], bn.running_mean, atol=1e-6)
        assert torch.allclose(r["bn_running"][1], bn.running_var, atol=1e-6)


def test_torchrun_two_ranks_with_syncbn_match_one_process(tmp_path):
    steps = 3
    cmd = [
        str(TORCHRUN),
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "dcgan_lib",
        "train",
        "--config",
        "smoke32",
        "--data",
        "synthetic",
        "--limit",
        "64",
        "--batch-size",
        "16",  # global: 2 ranks x 8
        "--epochs",
        "3",
        "--max-steps",
        str(steps),
        "--log-every",
        "1",
        "--sync-bn",
        "--deterministic",
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(tmp_path / "ddp"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "max steps: step 3" in proc.stdout
    one = train(
        smoke_cfg(tmp_path / "one", max_steps=steps, log_every=1), data=DATA, progress=False
    )
    assert one.step == steps
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("one", "ddp"))
    assert b["step"] == steps and b["config"]["sync_bn"]
    # the losses and D's outputs of every step agree to float rounding (measured: <= 2e-5
    # relative; without --sync-bn they differ by about 1e-2 from the first step on)
    rows_one, rows_ddp = (read_jsonl(tmp_path / d / "metrics.jsonl") for d in ("one", "ddp"))
    assert [r["step"] for r in rows_ddp] == [1, 2, 3]  # written once, by rank 0
    for r1, r2 in zip(rows_one, rows_ddp, strict=True):
        for k in ("loss_d", "loss_g", "d_real", "d_fake", "d_acc_real", "d_acc_fake"):
            assert r1[k] == pytest.approx(r2[k], rel=1e-4, abs=1e-6), (r1["step"], k)
    # the weights: Adam amplifies rounding where a gradient is near zero (an update of +-lr either
    # way), so compare each tensor's total update over the 3 steps. Measured: 2.6% at most
    # relative difference (G), 0.5% (D); without --sync-bn 38-87% overall.
    torch.manual_seed(1)
    init = {"G": Generator(get_model_config("smoke32")).state_dict()}
    init["D"] = Discriminator(get_model_config("smoke32")).state_dict()
    for key in ("G", "D"):
        for name, t in a[key].items():
            if name.endswith("num_batches_tracked"):
                assert torch.equal(t, b[key][name])
            elif "running" in name:
                assert torch.allclose(t, b[key][name], atol=1e-4), name
            else:
                d_one, d_ddp = t - init[key][name], b[key][name] - init[key][name]
                rel = float((d_ddp - d_one).norm() / d_one.norm())
                assert rel < 0.1, f"{key}.{name}: updates differ by {rel:.3f} (relative)"
    ddp_files = sorted(p.name for p in (tmp_path / "ddp").iterdir())
    assert "checkpoint.pt" in ddp_files and "run.json" in ddp_files


def test_batch_slices_cover_the_global_batch_once():
    rows = [Dist(rank=r, world_size=4).batch_slice(128) for r in range(4)]
    assert [list(range(128))[s] for s in rows] == [
        list(range(32 * r, 32 * r + 32)) for r in range(4)
    ]
    with pytest.raises(ConfigError, match="does not split evenly"):
        Dist(world_size=3).check_batch(128)
