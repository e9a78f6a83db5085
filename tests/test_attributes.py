"""The CelebA attribute classifier: shapes, a planted attribute is learned, storage round trip,
the split, and the committed artifact (dcgan_lib/attributes.py)."""

import json

import numpy as np
import torch

from dcgan_lib import attributes as A
from dcgan_lib.artifacts import artifacts_dir
from dcgan_lib.data import Packed, to_float

TINY = A.AttributeConfig(
    attributes=("Patch", "Bright"), widths=(8, 16, 32, 32), epochs=6, lr=5e-3, batch_size=64
)


def planted(n: int = 640, seed: int = 0) -> tuple[Packed, np.ndarray]:
    """Noise images; "Patch": a red 16x16 square at a random place; "Bright": a brighter image."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(n, 2)).astype(np.float32)
    base = np.where(y[:, 1, None, None, None] > 0, 150, 70)
    img = np.clip(base + rng.normal(0, 30, size=(n, 64, 64, 3)), 0, 255).astype(np.uint8)
    for i in np.flatnonzero(y[:, 0]):
        r, c = rng.integers(0, 48, size=2)
        img[i, r : r + 16, c : c + 16] = (255, 0, 0)
    return Packed(img, None, [f"{i:04d}" for i in range(n)]), y


def test_shapes_and_size():
    model = A.AttributeClassifier(A.AttributeConfig())
    x = torch.rand(5, 3, 64, 64) * 2 - 1
    assert model(x).shape == (5, len(A.ATTRIBUTES))
    p = A.predict_proba(model, x)
    assert p.shape == (5, 12) and ((p >= 0) & (p <= 1)).all()
    n_params = sum(p.numel() for p in model.parameters())
    assert 200_000 <= n_params <= 1_000_000, n_params


def test_split_is_disjoint_and_deterministic():
    tr, held = A.split_indices(10_000, 0.2)
    assert len(tr) == 8000 and len(held) == 2000
    assert not set(tr) & set(held) and len(set(tr) | set(held)) == 10_000
    tr2, held2 = A.split_indices(10_000, 0.2)
    assert (tr == tr2).all() and (held == held2).all()


def test_learns_planted_attributes():
    packed, y = planted()
    torch.set_num_threads(2)
    model = A.train_classifier(TINY, packed, progress=False, targets=y)
    result = A.evaluate(model, packed, targets=y)
    assert set(result) == {"Patch", "Bright"}
    for m in result.values():
        assert m["accuracy"] > 0.9, result
        assert 0.3 < m["majority_baseline"] < 0.7  # balanced labels: the baseline is near chance


def test_attribute_targets_from_celeba_labels():
    names = ["Bald", "Smiling", "Male"]
    labels = np.array([[1, -1, 1], [-1, 1, -1]], dtype=np.int8)
    packed = Packed(np.zeros((2, 64, 64, 3), np.uint8), labels, ["a", "b"], {"label_names": names})
    t = A.attribute_targets(packed, ("Smiling", "Male"))
    assert t.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_save_load_round_trip(tmp_path):
    packed, y = planted(n=128)
    cfg = A.AttributeConfig(**{**TINY.__dict__, "epochs": 1})
    model = A.train_classifier(cfg, packed, out_dir=tmp_path, progress=False, targets=y)
    loaded = A.load_classifier(tmp_path / "classifier.pt")
    assert loaded.cfg == model.cfg
    x = to_float(torch.from_numpy(packed.images[:32]))
    assert torch.allclose(A.predict_proba(model, x), A.predict_proba(loaded, x), atol=0.02)


def test_stored_classifier_and_metrics():
    model = A.load_stored_classifier()
    assert model.cfg.attributes == A.ATTRIBUTES
    path = artifacts_dir() / A.ARTIFACT / "classifier.pt"
    assert path.stat().st_size < 2 * 2**20
    metrics = json.loads((artifacts_dir() / A.ARTIFACT / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_heldout"] == 10_000
    assert set(metrics["heldout"]) == set(A.ATTRIBUTES)
    for a, m in metrics["heldout"].items():
        assert m["accuracy"] >= m["majority_baseline"] - 0.01, (a, m)
    for a in ("Smiling", "Male", "Mouth_Slightly_Open"):
        m = metrics["heldout"][a]
        assert m["accuracy"] > m["majority_baseline"] + 0.1, (a, m)
