"""The tiny CPU training run that the training and reliability tests share."""

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
