"""Fixtures shared by every test module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A ComfyUI-style models/ tree with every component written by make-tiny (once per session)."""
    from nava_model.components import make_tiny_models

    models = tmp_path_factory.mktemp("tiny") / "models"
    make_tiny_models(models)
    return models


@pytest.fixture(scope="session")
def loaded_tiny_models(tiny_models):
    from nava_model.components import load_models

    return load_models(tiny_models)


@pytest.fixture
def no_tensor_read(monkeypatch):
    """Fails the test if a loader reads any tensor of a model file: wrong files are refused from the header."""
    from nava_model.checkpoints import Checkpoint

    def refuse(self):
        raise AssertionError(f"tensors of {self.name} were read before the file was checked")

    monkeypatch.setattr(Checkpoint, "reader", refuse)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
