"""Registration: the V3 entry point, node ids and categories, widgets, the models/nava folder."""

import asyncio
import importlib.util
import sys

import pytest
from comfy_stand_in import REPO
from comfy_stand_in.fixtures import comfy, node_class  # noqa: F401  (pytest fixture + helper)


def import_pack():
    """Import the repository root the way ComfyUI does: as a package named after its folder."""
    spec = importlib.util.spec_from_file_location(
        "nava_pack_under_test", REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def node_list():
    from nodes import NavaExtension

    return asyncio.run(NavaExtension().get_node_list())


def test_importing_the_pack_touches_no_comfyui_module_and_defines_no_v1_mappings():
    before = set(sys.modules)
    pack = import_pack()
    loaded = set(sys.modules) - before
    assert not [m for m in loaded if m.split(".")[0] in ("comfy", "comfy_api", "folder_paths", "nava_model")]
    assert pack.WEB_DIRECTORY == "./web"
    assert callable(pack.comfy_entrypoint)
    assert not hasattr(pack, "NODE_CLASS_MAPPINGS")


def test_entrypoint_returns_the_extension_with_every_node_and_registers_models_nava(comfy):
    import folder_paths

    extension = asyncio.run(import_pack().comfy_entrypoint())
    ids = [cls.define_schema().node_id for cls in asyncio.run(extension.get_node_list())]
    assert ids == [
        "NAVAModelLoader",
        "NAVAWanVAELoader",
        "NAVAAudioVAELoader",
        "NAVAUMT5Loader",
        "NAVAReDimNetLoader",
        "NAVAMultiGPU",
        "NAVASpeakerSpanPrompt",
        "NAVASampler",
        "NAVADecodeAV",
        "NAVASaveAV",
        "NAVAStructuredCaption",
        "NAVARewriteInstructions",
        "NAVARewrittenPrompt",
    ]
    assert folder_paths.get_folder_paths("nava") == [str(comfy / "models" / "nava")]


def test_every_node_is_prefixed_nava_and_filed_under_the_nava_category(comfy):
    for cls in node_list():
        schema = cls.define_schema()
        assert schema.node_id.startswith("NAVA") and schema.category.startswith("NAVA/")
        assert schema.display_name.startswith("NAVA ")


def test_every_input_has_a_tooltip_and_a_default_inside_its_range(comfy):
    for cls in node_list():
        for spec in cls.define_schema().inputs:
            assert spec.tooltip, f"{cls.__name__}.{spec.id} has no tooltip"
            options = spec.options
            if "min" in options:
                assert options["min"] <= spec.default <= options["max"], f"{cls.__name__}.{spec.id}"
            if spec.io_type == "COMBO" and spec.default is not None:
                assert spec.default in options["options"], f"{cls.__name__}.{spec.id}"


def test_custom_sockets_are_only_model_handles_and_conditioning(comfy):
    custom = {
        spec.io_type
        for cls in node_list()
        for spec in [*cls.define_schema().inputs, *cls.define_schema().outputs]
        if spec.io_type not in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "IMAGE", "AUDIO", "LATENT")
    }
    assert custom == {
        "NAVA_MODEL",
        "NAVA_VIDEO_VAE",
        "NAVA_AUDIO_VAE",
        "NAVA_TEXT_ENCODER",
        "NAVA_SPEAKER_ENCODER",
        "NAVA_CONDITIONING",
    }


def test_sampler_defaults_are_navas(comfy):
    from nodes import NAVASampler

    defaults = {spec.id: spec.default for spec in NAVASampler.define_schema().inputs}
    assert (defaults["steps"], defaults["seed"], defaults["shift"], defaults["sampler"]) == (50, 42, 5.0, "unipc")
    assert (defaults["aspect"], defaults["mode"], defaults["seconds"]) == ("1280x704", "audio+video", 6.0)
    scales = [
        defaults[k]
        for k in ("video_guidance", "audio_guidance", "video_align_guidance", "audio_align_guidance", "timbre_guidance")
    ]
    assert scales == [3.0, 2.0, 3.0, 2.0, 3.0]


def test_nava_folder_is_appended_to_paths_from_extra_model_paths(comfy):
    import folder_paths

    from nodes import register_model_folders

    folder_paths.add_model_folder_path("nava", "/elsewhere/nava")  # what a yaml `nava:` key does first
    register_model_folders()
    assert folder_paths.get_folder_paths("nava") == ["/elsewhere/nava", str(comfy / "models" / "nava")]


def test_mmdit_dropdown_lists_models_nava_then_diffusion_models(comfy):
    from nodes import NAVAModelLoader, register_model_folders

    register_model_folders()
    for folder, name in (
        ("nava", "NAVA.safetensors"),
        ("diffusion_models", "other.safetensors"),
        ("nava", "notes.txt"),
    ):
        (comfy / "models" / folder).mkdir(parents=True, exist_ok=True)
        (comfy / "models" / folder / name).write_bytes(b"")
    (model_name, *_) = NAVAModelLoader.define_schema().inputs
    assert model_name.options["options"] == ["NAVA.safetensors", "other.safetensors"]


@pytest.mark.parametrize("node", ["NAVAWanVAELoader", "NAVAAudioVAELoader", "NAVAUMT5Loader", "NAVAReDimNetLoader"])
def test_loader_dropdowns_list_their_folders(comfy, node):
    (spec,) = node_class(node).define_schema().inputs
    assert spec.io_type == "COMBO" and spec.options["options"] == []
