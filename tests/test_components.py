"""The component table: every record is complete, its tiny file loads, wrong files are refused with the right folder."""

import itertools
import shutil

import pytest

from nava_model.checkpoints import open_checkpoint
from nava_model.components import (
    COMPONENTS,
    FAMILIES,
    WrongComponentError,
    find_component_file,
    identify_component,
    identify_family,
    load_models,
)


@pytest.mark.parametrize("key", COMPONENTS)
def test_each_record_names_its_files_folders_and_families(key):
    component = COMPONENTS[key]
    assert component.key == key and component.name
    assert component.files and all(f.folder and f.name for f in component.files)
    assert component.release.url.startswith("https://")
    assert component.folders[0] == component.release.folder
    assert component.families, f"no file family is loaded by {key}"
    assert component.release.folder in {family.folder for family in component.families}


@pytest.mark.parametrize("key", COMPONENTS)
def test_the_tiny_file_is_written_under_the_release_name_and_identified_as_its_component(tiny_models, key):
    component = COMPONENTS[key]
    path = component.release.path(tiny_models)
    assert path.is_file()
    assert open_checkpoint(path).is_tiny
    assert identify_component(path) is component
    assert identify_family(open_checkpoint(path)).folder == component.release.folder


@pytest.mark.parametrize("key", COMPONENTS)
def test_the_tiny_file_loads_with_its_components_loader(loaded_tiny_models, key):
    assert getattr(loaded_tiny_models, key) is not None


@pytest.mark.parametrize("given, expected", list(itertools.permutations(COMPONENTS, 2)))
def test_a_file_given_as_another_component_is_refused_naming_what_it_is_and_its_folder(tiny_models, given, expected):
    file_component, wanted = COMPONENTS[given], COMPONENTS[expected]
    with pytest.raises(WrongComponentError) as refused:
        wanted.load(file_component.release.path(tiny_models))
    message = str(refused.value)
    assert f"is {file_component.name}, which goes in models/{file_component.release.folder}" in message
    assert f"cannot be used as {wanted.name}" in message
    assert (refused.value.found, refused.value.expected) == (given, expected)
    assert "Loader" not in message and "connect" not in message


def test_families_are_told_apart_and_each_loaded_one_names_a_component():
    assert len({family.what for family in FAMILIES}) == len(FAMILIES)
    assert {family.component for family in FAMILIES} - {None} == set(COMPONENTS)


def test_find_component_file_takes_an_accepted_alternative_name(tiny_models, tmp_path):
    component = COMPONENTS["mmdit"]
    alternative = component.files[-1]
    assert (alternative.folder, alternative.name) != (component.release.folder, component.release.name)
    target = alternative.path(tmp_path)
    target.parent.mkdir(parents=True)
    shutil.copy(component.release.path(tiny_models), target)
    assert find_component_file(tmp_path, "mmdit") == target


def test_a_missing_component_names_its_release_file_address_and_folder(tmp_path):
    component = COMPONENTS["video_vae"]
    with pytest.raises(FileNotFoundError) as missing:
        find_component_file(tmp_path, "video_vae")
    message = str(missing.value)
    assert component.name in message and component.release.url in message
    assert str(tmp_path / component.release.folder) in message
    assert "make-tiny" in message


def test_load_models_checks_every_file_before_loading_any(tiny_models, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("a model was loaded before every file was checked")

    monkeypatch.setattr("nava_model.mmdit.loader.load_nava_mmdit", no_load)
    misplaced = {"audio_vae": COMPONENTS["video_vae"].release.path(tiny_models)}
    with pytest.raises(WrongComponentError, match="is the Wan2.2 video VAE, which goes in models/vae"):
        load_models(tiny_models, files=misplaced)


def test_load_models_takes_a_file_given_for_a_component(loaded_tiny_models, tiny_models, tmp_path):
    elsewhere = tmp_path / "my_vae.safetensors"
    shutil.copy(COMPONENTS["video_vae"].release.path(tiny_models), elsewhere)
    models = load_models(tiny_models, with_speaker=False, files={"video_vae": elsewhere})
    assert models.speaker_encoder is None
    for ours, reference in zip(models.video_vae.state_dict().values(), loaded_tiny_models.video_vae.state_dict().values()):
        assert ours.equal(reference)


def test_load_models_reports_every_missing_file_at_once(tmp_path):
    models = tmp_path / "models"
    COMPONENTS["mmdit"].write_tiny(models)
    with pytest.raises(FileNotFoundError) as missing:
        load_models(models, with_speaker=False)
    lines = str(missing.value).splitlines()
    assert [line.split(" was not found")[0] for line in lines] == [
        COMPONENTS[key].name for key in ("video_vae", "audio_vae", "text_encoder")
    ]
