"""Every committed workflow still loads: its NAVA node ids, input names and choice values exist in our schemas.

Saved workflows refer to nodes by id and to inputs by name (and store combo choices as their text), so a
rename anywhere in the pack would break them silently; this test names the workflow and the node that would.
"""

import json
from pathlib import Path

import pytest
from comfy_stand_in import REPO
from comfy_stand_in.fixtures import comfy  # noqa: F401  (pytest fixture)

UI = sorted((REPO / "workflows").glob("*.json"))
API = sorted((REPO / "workflows" / "api").glob("*.json"))
FILE_DROPDOWNS = {"model_name", "vae_name", "text_encoder_name"}  # their choices are the user's files


def schemas() -> dict:
    from nodes import NODES

    return {schema.node_id: schema for schema in (cls.define_schema() for cls in NODES)}


def nava_nodes(path: Path) -> list[tuple[str, str, set[str], dict]]:
    """(node label, class, input names, widget values by name when known) of the NAVA nodes in a workflow file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "nodes" in data:  # the UI format: inputs listed by name, widget values by position
        return [
            (f"{path.name} node {node['id']}", node["type"], {i["name"] for i in node.get("inputs", [])}, {})
            for node in data["nodes"]
            if node["type"].startswith("NAVA")
        ]
    return [  # the API format: every input by name, with its value
        (f"{path.name} node {key}", node["class_type"], set(node["inputs"]), node["inputs"])
        for key, node in data.items()
        if node["class_type"].startswith("NAVA")
    ]


def test_the_workflow_files_are_found():
    assert len(UI) == len(API) >= 4


@pytest.mark.parametrize("path", UI + API, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_nava_node_and_input_in_the_workflow_exists(comfy, path):
    registered = schemas()
    nodes = nava_nodes(path)
    assert nodes, f"{path.name} has no NAVA node"
    for label, node_id, inputs, values in nodes:
        assert node_id in registered, f"{label}: no node {node_id!r} is registered"
        schema_inputs = {spec.id: spec for spec in registered[node_id].inputs}
        unknown = inputs - set(schema_inputs)
        assert not unknown, f"{label} ({node_id}) uses inputs {sorted(unknown)} that {node_id} no longer has"
        if values:  # an API prompt must give every required input
            missing = {name for name, spec in schema_inputs.items() if not spec.optional} - inputs
            assert not missing, f"{label} ({node_id}) lacks required inputs {sorted(missing)}"
        for name, value in values.items():
            spec = schema_inputs[name]
            if spec.io_type == "COMBO" and name not in FILE_DROPDOWNS and not isinstance(value, list):
                assert value in spec.options["options"], f"{label} ({node_id}): {name}={value!r} is no longer a choice"
