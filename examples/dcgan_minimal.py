"""DCGAN's training loop on one screen (paper §4), on dcgan_lib's G, D and data. Copy and run:

    python dcgan_minimal.py --data-root ../shared/data   # CelebA-10k at 64 px, 25 epochs (a GPU)
    python dcgan_minimal.py --smoke                      # synthetic shapes: seconds on a CPU

It writes the fixed-z samples after every epoch (OUT/epoch_001.png, ...). The same algorithm as
`python -m dcgan_lib train` (which adds checkpoints, resuming, logs and the fast GPU engine): a
test checks that one step here and dcgan_lib.step.train_step give bit-identical weights.
"""

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from dcgan_lib.config import get_model_config
from dcgan_lib.data import epoch_order, load_dataset, to_float
from dcgan_lib.models import Discriminator, Generator, generate, sample_z


def bce(logits, label):  # binary cross-entropy on D's logits: label 1 = real, 0 = generated
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def step(G, D, opt_g, opt_d, x_real, z):
    """One iteration: D learns to tell real from generated, then G learns to fool the new D."""
    x_fake = G(z)
    loss_d = bce(D(x_real), 1.0) + bce(D(x_fake.detach()), 0.0)  # -log D(x) - log(1 - D(G(z)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = bce(D(x_fake), 1.0)  # -log D(G(z)): the non-saturating loss for G
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data", help="folder holding celeba/")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--beta1", type=float, default=0.5)  # paper: 0.5 ("0.9 ... instability")
    p.add_argument("--out", default="minimal_samples")
    p.add_argument("--smoke", action="store_true", help="a tiny G and D on 512 synthetic images")
    a = p.parse_args(argv)
    cfg = get_model_config("smoke32" if a.smoke else "dcgan64")  # dcgan64: Fig. 1 at half width
    data = load_dataset(
        "synthetic" if a.smoke else "celeba", a.data_root, "train", cfg.image_size,
        limit=512 if a.smoke else None,
    )  # fmt: skip
    images = torch.tensor(data.images)  # (N, S, S, 3) uint8, in memory
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(1)
    G, D = Generator(cfg).to(device), Discriminator(cfg).to(device)  # weights ~ N(0, 0.02)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(a.beta1, 0.999))  # paper: 2e-4
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(a.beta1, 0.999))
    batch, z_rng = 128, torch.Generator(device).manual_seed(2)  # paper: minibatches of 128
    fixed_z = sample_z(64, cfg, torch.Generator().manual_seed(3))  # the same z every epoch
    Path(a.out).mkdir(parents=True, exist_ok=True)
    for epoch in range(a.epochs):
        order = epoch_order(len(images), epoch, seed=1)  # a new shuffle every epoch
        for it in range(len(images) // batch):
            x_real = to_float(images[order[it * batch : (it + 1) * batch]].to(device))  # [-1, 1]
            z = sample_z(batch, cfg, z_rng, device)  # uniform in [-1, 1], 100-d (smoke: 16-d)
            loss_d, loss_g = step(G, D, opt_g, opt_d, x_real, z)
        print(f"epoch {epoch + 1}: loss_D {loss_d:.3f}, loss_G {loss_g:.3f}", flush=True)
        samples = generate(G, fixed_z)  # BatchNorm in eval mode: each sample from its own z
        save_image(
            samples, f"{a.out}/epoch_{epoch + 1:03d}.png", normalize=True, value_range=(-1, 1)
        )
    return G, D, opt_g, opt_d


if __name__ == "__main__":
    main()
