"""The lab fixture: one topology per test module, removed afterwards whatever happens."""

from __future__ import annotations

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
