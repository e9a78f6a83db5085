"""The tiny CPU training run that the training, engine and reliability tests share."""

import torch

from dcgan_lib.config import TrainConfig, get_model_config
from dcgan_lib.data import load_dataset

DATA = load_dataset("synthetic", image_size=32, limit=64)  # 4 batches of 16 per epoch


def smoke_cfg(out, **kw) -> TrainConfig:
    """smoke32 on synthetic data: 3 epochs of 4 steps, deterministic, CPU; fields overridable."""
    base = dict(
        model=get_model_config("smoke32"),
        data="synthetic",
        out=str(out),
        epochs=3,
        batch_size=16,
        log_every=2,
        sample_every=1000,
        checkpoint_every=4,
        deterministic=True,
        device="cpu",
        sample_epochs=(1,),
    )
    base.update(kw)
    return TrainConfig(**base)


def assert_same_training_state(a: dict, b: dict) -> None:
    """Two checkpoints hold bit-identical weights, BatchNorm buffers and Adam states."""
    for key in ("G", "D"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), f"{key}.{name} differs"
    for key in ("opt_g", "opt_d"):
        for i, st in a[key]["state"].items():
            for name, t in st.items():
                assert torch.equal(t, b[key]["state"][i][name]), f"{key}[{i}].{name} differs"
