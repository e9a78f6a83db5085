"""The status table of every experiment: read from artifacts/, and the README's copy is current."""

import json
import re

import pytest

from dcgan_lib import artifacts, compute, status, verdicts
from dcgan_lib.__main__ import main
from dcgan_lib.book import repo_root

MACHINE = "one Test GPU (1 GB), driver 1.0, CUDA 9.9, torch 0.0.1, Python 3.0"


def _result(name: str, seed: int, fids: dict[str, tuple[str, float]]) -> dict:
    """A result_sN.json as run_experiment writes it (the fields the readers use)."""
    return {
        "experiment": name,
        "seed": seed,
        "steps": 1950,
        "image_steps": 1950 * 128,
        "n_images": 10_000,  # 25 epochs of 78 batches of 128: 1,950 steps
        "train_minutes": 0.3,
        "devices": ["Test GPU"],
        "fid": {
            key: {"fid": fid, "kid_mean": 0.1, "protocol": protocol, "step": 1950,
                  "sampling": "BatchNorm eval mode (running statistics)"}
            for key, (protocol, fid) in fids.items()
        },
    }  # fmt: skip


def _store(root, name: str, payload: bytes | dict, machine: str | None = None) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    artifacts.register(name, path, "a test", "", root)
    if machine:
        manifest = json.loads((root / "manifest.json").read_text())
        manifest["files"][name]["machine"] = machine
        (root / "manifest.json").write_text(json.dumps(manifest))


def _faces(root, fids=(100.0, 110.0, 120.0)) -> None:
    for seed, fid in zip((1, 2, 3), fids, strict=True):
        key = {"final:celeba/train": ("FID-10k/celeba10k", fid)}
        _store(root, f"celeba_dcgan64/result_s{seed}.json", _result("celeba_dcgan64", seed, key),
               MACHINE)  # fmt: skip
    _store(root, "celeba_dcgan64/final.png", b"png bytes")
    _store(root, "celeba_dcgan64/G.pt", b"weights")
    final = {"step": 1950, "samples": "final", "sample_diversity": 0.5, "collapse_warning": False}
    _store(root, "celeba_dcgan64/diagnostics.jsonl", (json.dumps(final) + "\n").encode())


def _row(rows: list[dict], page: str, section: str | None = None) -> dict:
    return next(r for r in rows if r["row"].page == page and section in (None, r["row"].section))


def test_the_readme_holds_the_current_status_table():
    readme = (repo_root() / "README.md").read_text()
    assert status.read_readme_block(readme) == status.readme_block(), (
        "README.md's status table is stale: run `python -m dcgan_lib status --write-readme`"
    )


def test_nothing_stored_means_not_produced_and_no_headline(tmp_path):
    rows = status.status_rows(tmp_path)
    assert len(rows) == len(status.ROWS)
    for r in rows:
        if r["row"].artifacts:
            assert r["state"] == "**not produced yet**" and r["headline"] is None, r["row"]
        else:
            assert r["state"] == "computed on the page"
    assert status.machine_note(tmp_path) == "No stored result names the machine that made it yet.\n"


def test_stored_results_give_the_headline_from_their_numbers(tmp_path):
    _faces(tmp_path)
    r = _row(status.status_rows(tmp_path), "notebooks/02_training")
    assert r["state"] == "stored" and r["have"] == r["need"] == 5
    # mean and sample sd of 100, 110, 120; the anchor from experiments.ANCHORS
    assert r["headline"].startswith("FID-10k/celeba10k 110.0 ± 10.0 (sd, 3 seeds); ")
    assert r["headline"].endswith(": 89.1")
    # §6.1 needs G and the stored study: G alone is half of it, without a headline
    walks = _row(status.status_rows(tmp_path), "notebooks/06_latent_walks")
    assert walks["state"] == "partly stored (1 of 2 files)" and walks["headline"] is None
    assert MACHINE in status.machine_note(tmp_path) and "(3 files" in status.machine_note(tmp_path)


def test_some_seeds_stored_is_partly_stored(tmp_path):
    key = {
        "final:cifar10/test": ("FID-10k/cifar10-test", 44.0),
        "final:cifar10/train": ("FID-10k/cifar10-train", 45.0),
    }
    _store(tmp_path, "cifar10_imagenet32/result_s1.json", _result("cifar10_imagenet32", 1, key))
    rows = [x for x in status.status_rows(tmp_path) if "cifar10_imagenet32/result_s1.json"
            in x["row"].artifacts]  # fmt: skip
    assert len(rows) == 1
    r = rows[0]
    assert r["state"] == "partly stored (1 of 3 files)"
    assert r["headline"].startswith("FID-10k/cifar10-test 44.0 (1 seed); ")


def test_a_changed_file_is_not_stored(tmp_path):
    _faces(tmp_path)
    (tmp_path / "celeba_dcgan64" / "G.pt").write_bytes(b"other weights")
    r = _row(status.status_rows(tmp_path), "notebooks/02_training")
    assert r["have"] == 4 and r["state"] == "partly stored (4 of 5 files)"
    assert not artifacts.is_stored("celeba_dcgan64/G.pt", tmp_path)


def test_the_markdown_table_has_a_row_per_experiment_and_links_its_page(tmp_path):
    _faces(tmp_path, fids=(90.0, 90.0, 96.0))
    text = status.status_markdown(tmp_path)
    lines = text.splitlines()
    assert len(lines) == 2 + len(status.ROWS)
    assert all(line.count("|") == 8 for line in lines)  # 7 cells each, no stray pipes
    assert "| stored | FID-10k/celeba10k 92.0 ± 3.5 (sd, 3 seeds)" in text
    assert "[02_training](notebooks/02_training.ipynb)" in text
    assert "{doc}`../notebooks/02_training`" in status.status_markdown(tmp_path, book=True)
    for row in status.ROWS:  # every page the table links exists
        assert (repo_root() / f"{row.page}.ipynb").is_file(), row.page


def test_write_readme_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{status.BEGIN}\nold table\n{status.END}\n\n## After\n")
    assert status.write_readme(readme, tmp_path / "artifacts")
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\n## After\n")
    assert status.read_readme_block(text) == status.readme_block(tmp_path / "artifacts")
    assert not status.write_readme(readme, tmp_path / "artifacts")  # already current
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no status block"):
        status.write_readme(readme)


def test_the_cli_prints_the_table(capsys):
    assert main(["status", "--markdown"]) == 0
    assert capsys.readouterr().out == status.status_markdown()


def test_machines_group_the_manifest_by_machine(tmp_path):
    _faces(tmp_path)
    _store(tmp_path, "benchmarks/throughput.json", {"step": {}}, "another machine")
    found = compute.machines(tmp_path)
    assert found == {
        MACHINE: [f"celeba_dcgan64/result_s{s}.json" for s in (1, 2, 3)],
        "another machine": ["benchmarks/throughput.json"],
    }


def test_the_intro_shows_every_status_row_by_its_key():
    intro = (repo_root() / "book" / "intro.md").read_text()
    keys = [row.key for row in status.ROWS]
    assert len(set(keys)) == len(keys) and all(keys)
    shown = re.findall(r"\{glue:md\}`status_(\w+):myst`", intro)
    assert shown == keys  # one table row per status row, in the same order


def test_the_book_cell_names_the_kind_of_machine_and_links_the_page(tmp_path):
    _faces(tmp_path)
    r = _row(status.status_rows(tmp_path), "notebooks/02_training")
    assert r["made"].startswith("one Test GPU (1 GB), ")  # the hardware, not the software
    assert r["on"] == "on a GPU"  # 3 of its 5 files name their machine
    assert status.book_cell(r) == "stored on a GPU: {doc}`page <../notebooks/02_training>`"
    _store(tmp_path, "latent_walks/metrics.json", {}, "2-core x86_64 CPU (AMD EPYC)")
    _store(tmp_path, "celeba_dcgan64/G.pt", b"weights", MACHINE)
    walks = _row(status.status_rows(tmp_path), "notebooks/06_latent_walks")
    assert walks["on"] == "on a GPU and a CPU"


def test_a_stored_study_gives_its_headline_from_its_numbers(tmp_path):
    _faces(tmp_path)
    share = {"median": 0.05, "p90": 0.1, "max": 0.2}
    smooth = {"steps": 10, "generator": {"max_step_share": share, "sharp_segments": 0.0},
              "memorizer": {"max_step_share": {**share, "median": 0.7},
                            "sharp_segments": 0.6}}  # fmt: skip
    _store(tmp_path, "latent_walks/metrics.json", {"smoothness": smooth})
    walks = _row(status.status_rows(tmp_path), "notebooks/06_latent_walks")
    assert walks["state"] == "stored"
    assert walks["headline"] == (
        "a walk segment's largest step carries a median 0.050 of its change (a memorizer: 0.700; "
        "an even change: 0.100)"
    )
    assert walks["verdict"].verdict == verdicts.REPRODUCED  # 0.05 is nearer 0.1 than 0.7


def test_the_verdict_column_is_computed_by_the_rules(tmp_path):
    rows = status.status_rows(tmp_path)
    for r in rows:
        if r["row"].key in verdicts.CLAIMS:
            assert r["verdict"] == verdicts.judge(r["row"].key, tmp_path)
        else:
            assert r["verdict"] is None and status.verdict_cell(r) == status.NO_CLAIM
    by_key = {r["row"].key: r for r in rows}
    # nothing stored: every claim that needs stored results is "not run"
    assert status.verdict_cell(by_key["s631"]) == "*not run*"
    assert status.verdict_cell(by_key["s3"]) == "*reproduced*"  # built on the page
    _faces(tmp_path)
    assert status.verdict_cell(_row(status.status_rows(tmp_path), "notebooks/02_training")) in (
        "*partly*",  # one data set only: CelebA-10k
    )
    text = status.status_markdown(tmp_path)
    assert "| did the paper's claim hold here? |" in text.splitlines()[0]


def test_the_intro_shows_every_verdict_by_its_key():
    intro = (repo_root() / "book" / "intro.md").read_text()
    shown = re.findall(r"\{glue:md\}`verdict_(\w+):myst`", intro)
    assert shown == [row.key for row in status.ROWS]
    assert "dcgan_lib.verdicts.rules_markdown()" in intro  # the page states the rules


def test_no_status_text_calls_the_faces_set_3m_training_images():
    # paper §4.2: "approximately 350,000 face boxes" from "3M images from 10K people"
    assert "350,000 face boxes" in status.CELEBA and "3M-image" not in status.CELEBA
