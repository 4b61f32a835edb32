"""A case built once per test module (key "default", one capture of the demo site and one
synthetic capture, no TSA), with its PROV_HOME in the environment while the module runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exports import Built, build, environment


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("built")
    made = build(root, None)
    with environment(root):
        yield made
