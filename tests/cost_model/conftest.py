from __future__ import annotations

import pytest

from cost_model.pricing import Pricing, load_pricing


@pytest.fixture(scope="session")
def pricing() -> Pricing:
    return load_pricing()
