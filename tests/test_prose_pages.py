"""The plain prose pages (no code cells) quote the set-up and the library: the quotes stay current.

``book/toolchain.md`` and ``book/fid_protocol.md`` quote pins (``torch==...``), which must be the
pins of ``requirements.txt``; ``book/troubleshooting.md`` quotes the message a page shows for a
result not made yet, which must be the one ``dcgan_lib.artifacts.require`` raises.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dcgan_lib import artifacts

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"`([A-Za-z0-9_.-]+)==([^`\s]+)`")


def requirement_pins(text: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a requirements file."""
    pins = {}
    for line in text.splitlines():
        spec = line.split("#")[0].strip()
        if "==" in spec:
            name, version = spec.split("==")
            pins[name.strip()] = version.strip()
    return pins


def stale_pins(page: str, pins: dict[str, str]) -> list[str]:
    """The pins a page quotes that differ from ``pins`` (or that ``pins`` lacks)."""
    return [
        f"{name}=={version} (requirements.txt: {pins.get(name)})"
        for name, version in PIN.findall(page)
        if pins.get(name) != version
    ]


def test_the_pin_check_catches_a_stale_pin():
    pins = requirement_pins("torch==2.14.1\nnumpy==2.4.6  # a comment\n")
    assert pins == {"torch": "2.14.1", "numpy": "2.4.6"}
    assert stale_pins("pinned: `torch==2.14.1`", pins) == []
    assert stale_pins("pinned: `torch==2.11.0`", pins) == [
        "torch==2.11.0 (requirements.txt: 2.14.1)"
    ]


@pytest.mark.parametrize("page", ["book/toolchain.md", "book/fid_protocol.md"])
def test_quoted_pins_are_those_of_requirements(page):
    text = (ROOT / page).read_text()
    assert PIN.search(text), f"{page} quotes no pin"
    stale = stale_pins(text, requirement_pins((ROOT / "requirements.txt").read_text()))
    assert not stale, f"{page} quotes pins that requirements.txt no longer has: {stale}"


def test_troubleshooting_quotes_the_not_produced_message(tmp_path):
    text = (ROOT / "book" / "troubleshooting.md").read_text()
    quoted = re.search(r"`(celeba_dcgan64/final\.png: not produced yet: [^`]*?) \.\.\.`", text)
    assert quoted, "book/troubleshooting.md no longer quotes the not-produced message"
    with pytest.raises(artifacts.ArtifactMissing) as missing:
        artifacts.require("celeba_dcgan64", "final.png", root=tmp_path)  # nothing stored there
    assert str(missing.value).startswith(quoted.group(1)), (str(missing.value), quoted.group(1))
