"""The opened checkpoint: one header read, shards as one file, a torch file unpickled once, tensors read on demand."""

import pytest
import torch
from safetensors.torch import save_file

from nava_model.checkpoints import CheckpointError, open_checkpoint
from nava_model.components import SPEAKER_ENCODER


def test_shards_open_as_one_checkpoint_and_each_tensor_comes_from_its_shard(tmp_path):
    save_file({"a": torch.ones(2)}, str(tmp_path / "model-00001-of-00002.safetensors"), metadata={"k": "v"})
    save_file({"b": torch.zeros(3, 1)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    checkpoint = open_checkpoint(tmp_path / "model-00001-of-00002.safetensors")
    assert checkpoint.format == "safetensors" and checkpoint.shapes == {"a": (2,), "b": (3, 1)}
    assert checkpoint.metadata == {"k": "v"}
    tensors = checkpoint.read()
    assert tensors["a"].equal(torch.ones(2)) and tensors["b"].equal(torch.zeros(3, 1))


def test_a_missing_shard_is_named(tmp_path):
    save_file({"a": torch.ones(2)}, str(tmp_path / "model-00001-of-00003.safetensors"))
    with pytest.raises(CheckpointError, match="one shard of 3; missing beside it: model-00002-of-00003"):
        open_checkpoint(tmp_path / "model-00001-of-00003.safetensors")


def test_only_the_tensors_asked_for_are_read(tmp_path):
    save_file({"wanted": torch.ones(2), "other": torch.ones(4)}, str(tmp_path / "m.safetensors"))
    assert list(open_checkpoint(tmp_path / "m.safetensors").read(["wanted"])) == ["wanted"]


def test_a_torch_file_is_unpickled_once_per_load(tmp_path, monkeypatch):
    path = SPEAKER_ENCODER.write_tiny(tmp_path)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(args) or real_load(*args, **kwargs))
    SPEAKER_ENCODER.load(path)
    assert len(calls) == 1
    checkpoint = open_checkpoint(path)
    assert checkpoint.format == "torch" and checkpoint.extra["nava_tiny"] is True
    SPEAKER_ENCODER.load(checkpoint)  # an opened checkpoint is not read again
    assert len(calls) == 2


def test_an_opened_checkpoint_passes_through(tmp_path):
    save_file({"a": torch.ones(2)}, str(tmp_path / "m.safetensors"))
    checkpoint = open_checkpoint(tmp_path / "m.safetensors")
    assert open_checkpoint(checkpoint) is checkpoint
