"""The packed cache is decoded in parallel (a process per core, or threads) and is byte-identical
to a decode in one thread."""

import numpy as np
import pytest
from _tinydata import celeba

from dcgan_lib import data as D
from dcgan_lib import datasets as DS
from dcgan_lib.data import load_dataset
from dcgan_lib.datasets import DataError


def _files(packed) -> tuple:
    return (
        bytes(memoryview(np.ascontiguousarray(packed.images))),
        tuple(packed.names),
        None if packed.labels is None else packed.labels.tobytes(),
        tuple(map(tuple, packed.skipped)),
    )


def test_processes_threads_and_one_thread_build_the_same_cache(tmp_path):
    celeba(tmp_path / "data", n=40, broken=True)
    built = {}
    for decoder in ("serial", "threads", "processes"):
        p = load_dataset(
            "celeba", tmp_path / "data", "train", 32, tmp_path / decoder, progress=False,
            workers=2, decoder=decoder,
        )  # fmt: skip
        built[decoder] = _files(p)
    assert built["serial"] == built["threads"] == built["processes"]
    images, names, _, skipped = built["serial"]
    assert len(names) == 40 and len(images) == 40 * 32 * 32 * 3
    assert skipped[0][0].endswith("000041.jpg") and "not an image" in skipped[0][1]
    # the cache files themselves are the same bytes
    u8 = {d: next((tmp_path / d).glob("celeba-*.u8")).read_bytes() for d in built}
    assert u8["serial"] == u8["processes"]


def test_the_limit_is_honoured_by_every_decoder(tmp_path):
    celeba(tmp_path / "data", n=12)
    a = load_dataset("celeba", tmp_path / "data", "train", 32, tmp_path / "a", limit=7,
                     progress=False, decoder="processes", workers=2)  # fmt: skip
    b = load_dataset("celeba", tmp_path / "data", "train", 32, tmp_path / "b", limit=7,
                     progress=False, decoder="serial")  # fmt: skip
    assert len(a) == 7 and _files(a) == _files(b)


def test_auto_uses_processes_only_for_large_sets_on_several_cores(monkeypatch):
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    monkeypatch.setattr(D.os, "cpu_count", lambda: 4)
    small = D.decode_executor("auto", None, 100)
    big = D.decode_executor("auto", None, D.DECODE_PROCESSES_MIN)
    try:
        assert isinstance(small, ThreadPoolExecutor) and isinstance(big, ProcessPoolExecutor)
        assert big._max_workers == 4  # one per core
    finally:
        small.shutdown()
        big.shutdown()
    assert D.decode_executor("serial", None, 10) is None
    monkeypatch.setattr(D.os, "cpu_count", lambda: 1)
    one = D.decode_executor("auto", None, 10**6)
    assert isinstance(one, ThreadPoolExecutor)
    one.shutdown()
    with pytest.raises(DataError, match="unknown decoder"):
        D.decode_executor("gpu", None, 10)


def _tar(path, mode, members, fmt=None):
    import io
    import tarfile

    kw = {"format": fmt} if fmt is not None else {}
    with tarfile.open(path, mode, **kw) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            if payload is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif payload == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "a/1.jpg"
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))


def _with_tarfile(path):
    import tarfile

    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]


def test_the_archive_reader_gives_tarfile_s_image_members(tmp_path, monkeypatch):
    import gzip
    import tarfile

    members = [("a", None), ("a/1.jpg", b"x" * 1000), ("a/notes.txt", b"hi"), ("a/l", "link"),
               ("a/" + "b" * 120 + "/2.jpg", b"y" * 513), ("a/empty.jpg", b"")]  # fmt: skip
    paths = []
    for mode, fmt in (("w:gz", tarfile.USTAR_FORMAT), ("w", tarfile.USTAR_FORMAT),
                      ("w:gz", tarfile.PAX_FORMAT), ("w:bz2", None), ("w:xz", None)):  # fmt: skip
        path = tmp_path / f"t-{mode[-2:]}-{fmt}.tar"
        _tar(path, mode, members, fmt)
        paths.append(path)
    plain = tmp_path / "t-w-0.tar"
    two = tmp_path / "two-members.tar.gz"  # gzip streams one after the other: one archive
    half = len(plain.read_bytes()) // 2
    two.write_bytes(
        gzip.compress(plain.read_bytes()[:half]) + gzip.compress(plain.read_bytes()[half:])
    )
    images = [m for m in _with_tarfile(plain) if m[0].endswith(".jpg")]
    assert len(images) == 3
    good = tmp_path / "t-gz-None.tar"
    _tar(good, "w:gz", members)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-30])
    for whole in (True, False):  # .tar.gz decompressed at once, or streamed when too large
        if not whole:
            monkeypatch.setattr(DS, "WHOLE_ARCHIVE_MAX_BYTES", 0)
        for path in [*paths, two]:
            assert list(DS._tar_items(path)) == images, path
        assert DS._read_tar_text(plain, "notes.txt") == "hi"
        with pytest.raises(DataError, match=r"cut.tar.gz is damaged .*sha256sum -c"):
            list(DS._tar_items(cut))
