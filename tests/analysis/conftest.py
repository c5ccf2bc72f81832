from __future__ import annotations

import pytest

from analysis.load import RunData, load_run_dir
from tests.fixtures import SMOKE_RUN


@pytest.fixture(scope="session")
def smoke() -> RunData:
    return load_run_dir(SMOKE_RUN)
