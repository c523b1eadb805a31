"""The lab fixture: one topology per test module, removed afterwards whatever happens."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.lab.topology import Lab, LabUnavailable


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    try:
        topology = Lab()
    except LabUnavailable as error:
        pytest.skip(str(error))
    try:
        yield topology
    finally:
        topology.close()
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
        left = [line.split()[0] for line in names.splitlines() if line.startswith(f"{topology.tag}-")]
        assert not left, f"namespaces left behind: {left}"
