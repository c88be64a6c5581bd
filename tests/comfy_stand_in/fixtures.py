"""pytest fixtures for the node tests: the stand-ins installed (the tiny models/ tree comes from tests/conftest.py)."""

from __future__ import annotations

import pytest

from . import install

TINY_RUN = {"aspect": "custom", "width": 64, "height": 64, "frames": 5, "steps": 2}  # 2 latent frames, 6 audio tokens


def node_class(node_id: str):
    """The registered node class with this id (the id saved workflows use)."""
    from nodes import NODES

    return next(cls for cls in NODES if cls.define_schema().node_id == node_id)


def sampler_widgets(**changes) -> dict:
    """NAVA Sampler's widget defaults, set for a tiny run (64x64, 5 frames, 2 steps), with `changes` on top."""
    from nodes import NAVASampler

    defaults = {spec.id: spec.default for spec in NAVASampler.define_schema().inputs if spec.default is not None}
    return defaults | TINY_RUN | changes


@pytest.fixture
def comfy(tmp_path):
    """The stand-ins, with empty model folders and the output folder under tmp_path."""
    install(tmp_path)
    return tmp_path


@pytest.fixture
def comfy_tiny(tmp_path, tiny_models):
    """The stand-ins over the tiny models; outputs under tmp_path."""
    install(tmp_path, tiny_models)
    from nodes import register_model_folders

    register_model_folders()
    return tmp_path
