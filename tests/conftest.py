"""Fixtures shared by every test module."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Slow tests run only when asked for: NAVA_SLOW_TESTS=1, or a -m expression that names them."""
    if os.environ.get("NAVA_SLOW_TESTS") == "1" or "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set NAVA_SLOW_TESTS=1 or pass -m slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A ComfyUI-style models/ tree with every component written by make-tiny (once per session)."""
    from nava_model.tiny import make_tiny_models

    models = tmp_path_factory.mktemp("tiny") / "models"
    make_tiny_models(models)
    return models


@pytest.fixture(scope="session")
def loaded_tiny_models(tiny_models):
    from nava_model.model_files import load_models

    return load_models(tiny_models)
