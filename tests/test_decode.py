"""The packed cache is decoded in parallel (a process per core, or threads) and is byte-identical
to a decode in one thread."""

import numpy as np
import pytest
from _tinydata import celeba

from dcgan_lib import data as D
from dcgan_lib.data import DataError, load_dataset


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


def test_the_fast_tar_reader_gives_tarfile_s_members_or_steps_aside(tmp_path):
    import tarfile

    members = [("a", None), ("a/1.jpg", b"x" * 1000), ("a/notes.txt", b"hi"), ("a/l", "link"),
               ("a/" + "b" * 120 + "/2.jpg", b"y" * 513), ("a/empty.jpg", b"")]  # fmt: skip
    for mode, fmt, fast in (("w:gz", tarfile.USTAR_FORMAT, True), ("w", tarfile.USTAR_FORMAT, True),
                            ("w:gz", tarfile.PAX_FORMAT, False), ("w:bz2", None, False)):  # fmt: skip
        path = tmp_path / f"t-{mode[-2:]}-{fmt}.tar"
        _tar(path, mode, members, fmt)
        got = D._fast_tar_members(path)
        assert (got is not None) == fast, (mode, fmt)  # pax headers and bzip2: tarfile reads them
        if got is not None:
            assert list(got) == _with_tarfile(path)
        # either way the dataset reader sees the same image files
        assert list(D._tar_items(path)) == [m for m in _with_tarfile(path) if m[0].endswith(".jpg")]
    good = tmp_path / "t-gz-None.tar"
    _tar(good, "w:gz", members)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"cut.tar.gz is damaged .*sha256sum -c"):
        list(D._tar_items(cut))
