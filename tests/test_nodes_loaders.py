"""The loader nodes come from the component table: one per component, its folders, its tiny file, its wrong files."""

import itertools
import shutil

import pytest
from comfy_stand_in.fixtures import comfy, comfy_tiny, node_class  # noqa: F401  (fixtures + helper)

from nava_model.components import COMPONENTS, WrongComponentError


def table():
    from nodes.sockets import COMPONENT_NODES

    return COMPONENT_NODES


def load(node, name: str):
    """Run `node`'s loader on the file `name` of its dropdown (the MMDiT loader's other widgets at their defaults)."""
    loader = node_class(node.loader_id)
    widgets = {spec.id: spec.default for spec in loader.define_schema().inputs[1:]}
    return loader.execute(**{node.file_input: name}, **widgets)[0]


def test_every_component_has_one_loader_node_and_the_table_nothing_else(comfy):
    assert list(table()) == list(COMPONENTS)
    assert len({node.loader_id for node in table().values()}) == len(COMPONENTS)


@pytest.mark.parametrize("key", COMPONENTS)
def test_each_loader_lists_its_folders_and_loads_the_tiny_file_into_its_socket(comfy_tiny, key):
    import folder_paths

    node = table()[key]
    schema = node_class(node.loader_id).define_schema()
    assert [output.io_type for output in schema.outputs] == [node.socket_name]
    dropdown = schema.inputs[0]
    assert dropdown.id == node.file_input and dropdown.tooltip.startswith(COMPONENTS[key].release.name)
    assert all(folder in folder_paths.folder_names_and_paths for folder in node.folders)
    release = COMPONENTS[key].release
    assert release.name in dropdown.options["options"]
    handle = load(node, release.name)
    assert handle.socket == node.socket_name and handle.runner is not None


@pytest.mark.parametrize("given, loader", list(itertools.permutations(COMPONENTS, 2)))
def test_a_file_in_another_loader_is_refused_naming_its_folder_and_its_loader(comfy_tiny, tiny_models, given, loader):
    file_component, node = COMPONENTS[given], table()[loader]
    release = file_component.release.path(tiny_models)
    misplaced = COMPONENTS[loader].release.path(tiny_models).with_name(f"misplaced_{given}{release.suffix}")
    shutil.copy(release, misplaced)
    try:
        with pytest.raises(WrongComponentError) as refused:
            load(node, misplaced.name)
    finally:
        misplaced.unlink()
    message = str(refused.value)
    assert f"which goes in models/{file_component.release.folder}" in message
    assert message.endswith(f"Load it with {table()[given].loader_name}.")
