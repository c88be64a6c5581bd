"""The shipped workflows and web/nava.js in ComfyUI's real front-end (headless Chromium, a 1600x1000 window).

Skipped unless COMFYUI_PATH names a ComfyUI checkout and Node.js, Chromium and playwright-core are found
(see browser.py). One server (tiny weights, our repo mounted as a pack) and three browser sessions serve all
tests: one opens every template as the template browser does (screenshots kept under the session's temporary
folder), converts it with `app.graphToPrompt()` and exercises the extension on a scratch graph; one does the
same with the Vue node renderer ("Nodes 2.0"); the last queues the text-to-AV template from the UI and plays
what NAVA Save shows. That run uses small sampler settings (2 steps, 64x64, 1 s) in place of the template's
50 steps, 1280x704, 6 s, so it finishes on the tiny weights on a CPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import canonical, console_errors, legibility_problems, missing_tools, run_frontend, start_ui_server  # noqa
from make_rewrite_workflow import add_llm_placeholder  # noqa: E402
from templates import TITLES, api_file, ui_file  # noqa: E402

REASON = missing_tools()
pytestmark = [pytest.mark.browser, pytest.mark.comfyui, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

UI_WORKFLOWS = {key: ui_file(key) for key in TITLES}
# The templates this module opens, converts and runs: the pack's nodes and Core's, on every ComfyUI tested. The
# rewrite template needs Generate Text (0.33+) and has its own module (test_rewrite_workflow_browser.py).
PACK_TEMPLATES = {name: path for name, path in UI_WORKFLOWS.items() if name != "nava_rewrite_text_to_av"}
TINY_RUN = {"NAVASampler": {"steps": 2, "aspect": "custom", "width": 64, "height": 64, "seconds": 1.0}}
PACK = "comfyui-nava"  # the folder the server harness mounts the pack as: the template browser's category
SAVED_PROBE = "probe_00001_.mp4"
SAVED_SOUND = "probe_00001_.flac"
PROBE = {
    "prompts": {
        "two_spans": "A man says <S>hello there<E> and then <S>goodbye now<E>.",
        "nested": "She says <S>wait <S>no<E> please<E>",
        "empty": "He opens his mouth <S>   <E> and nothing comes out.",
        "unclosed": "He starts <S>to speak but never stops",
        "stray_close": "Nothing opens this<E> span.",
    },
    "voicePrompt": "Only one span: <S>hi there<E>",
    "voices": 2,
    "batch": 3,  # Run with a batch count of 3
    "saved": [  # what NAVA Save returns: Core's video preview for an MP4, the file alone for sound
        {"images": [{"filename": SAVED_PROBE, "subfolder": "NAVA", "type": "output"}], "animated": [True]},
        {"audio": [{"filename": SAVED_SOUND, "subfolder": "NAVA", "type": "output"}]},
    ],
}


def write_probe_files(folder: Path) -> None:
    """What NAVA Save writes: one second of 24 fps noise with a 440 Hz tone (MP4), and the tone alone (FLAC)."""
    import torch

    from nava_model.media import write_audio, write_mp4

    folder.mkdir(parents=True, exist_ok=True)
    tone = 0.3 * torch.sin(torch.arange(48000) / 48000 * 2 * torch.pi * 440).expand(1, 2, -1)
    write_mp4(folder / SAVED_PROBE, torch.rand(24, 64, 96, 3), 24.0, tone, 48000)
    write_audio(folder / SAVED_SOUND, tone[0], 48000)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    server = start_ui_server(base / "comfyui")
    add_llm_placeholder(server)  # the rewrite template's LLM, listed so the front-end does not look it up
    try:
        write_probe_files(server.base / "output" / "NAVA")
        workflows = {name: json.loads(path.read_text()) for name, path in PACK_TEMPLATES.items()}
        runs = {}
        for run, vue in (("loaded", False), ("vue", True)):
            (base / run).mkdir()
            job = {
                "settings": {"Comfy.VueNodes.Enabled": vue},
                "open": {name: {"workflow": w, "title": TITLES[name], "screenshot": str(base / run / f"{name}.png")}
                         for name, w in workflows.items()},
                "load": workflows,
            }
            if not vue:
                job |= {"probe": PROBE, "runTwice": workflows["nava_text_to_av"],
                        "templateCards": {"category": PACK, "titles": list(TITLES.values()),
                                          "screenshot": str(base / run / "template_browser.png")}}
            runs[run] = run_frontend(server, job, base / run)
        (base / "queue").mkdir()
        queued = run_frontend(
            server,
            {"settings": {"Comfy.VueNodes.Enabled": False},
             "queue": {"workflow": workflows["nava_text_to_av"], "overrides": TINY_RUN, "timeoutMs": 300000},
             "screenshot": str(base / "queued.png")},
            base / "queue",
        )
        loaded, vue = runs["loaded"], runs["vue"]
        print(f"screenshots of the templates as they open: {base / 'loaded'} (classic), {base / 'vue'} (Vue nodes)")
        yield {"loaded": loaded, "vue": vue, "queued": queued, "server": server}
    finally:
        server.process.terminate()
        server.process.wait(30)


def test_the_five_templates_are_shipped():
    assert set(UI_WORKFLOWS) == {
        "nava_text_to_av", "nava_image_to_av", "nava_dialogue_three_voices", "nava_audio_only", "nava_rewrite_text_to_av",
    }


def test_every_workflow_loads_without_console_errors(session):
    for run in ("loaded", "vue", "queued"):
        assert console_errors(session[run]["console"]) == [], session[run]["console"]
    assert set(session["loaded"]["loaded"]) == set(PACK_TEMPLATES)


@pytest.mark.parametrize("name", list(PACK_TEMPLATES))
def test_graph_to_prompt_equals_the_committed_api_copy(session, name):
    exported = session["loaded"]["loaded"][name]["api"]
    committed = json.loads(api_file(name).read_text())
    assert canonical(exported) == canonical(committed)


def test_templates_show_their_spans_bound_to_voices_with_no_problem(session):
    views = {name: result["views"] for name, result in session["loaded"]["loaded"].items()}
    assert all(len(v) == 1 and v[0]["problems"] == [] for v in views.values()), views
    dialogue = views["nava_dialogue_three_voices"][0]["text"]
    assert dialogue.startswith("3 span(s)") and all(f"voice_{i} ✓" in dialogue for i in (1, 2, 3))
    assert "span 1: timbre from text" in views["nava_text_to_av"][0]["text"]


def test_span_view_works_with_the_vue_node_renderer_too(session):
    classic, vue = session["loaded"]["loaded"], session["vue"]["loaded"]
    assert set(vue) == set(classic)
    assert all(vue[name]["vueNodes"] > 0 and classic[name]["vueNodes"] == 0 for name in vue)
    for name in vue:
        assert vue[name]["views"] == classic[name]["views"]
        assert canonical(vue[name]["api"]) == canonical(classic[name]["api"])


def test_span_view_colours_each_span_and_flags_bad_markup(session):
    probe = session["loaded"]["probe"]
    two = probe["two_spans"]
    assert two["problems"] == [] and [text for text, _ in two["spans"]] == ["hello there", "goodbye now"]
    assert two["spans"][0][1] != two["spans"][1][1]  # one colour per speaker
    expected = {
        "nested": "spans cannot nest",
        "empty": "is empty",
        "unclosed": "is never closed",
        "stray_close": "closes no speech span",
    }
    for label, words in expected.items():
        assert len(probe[label]["problems"]) == 1 and words in probe[label]["problems"][0], probe[label]
        assert "⚠" in probe[label]["status"]


def test_voice_count_against_spans_is_shown_and_warned_before_queue(session):
    probe = session["loaded"]["probe"]
    status = probe["withVoices"]["status"]
    assert status.startswith("1 span(s)") and "voice_1 ✓" in status and "voice_2: no span" in status
    assert any("2 reference voice slot(s)" in p for p in probe["withVoices"]["problems"])
    assert any("speaker encoder" in p for p in probe["withVoices"]["problems"])
    assert [t["severity"] for t in probe["toasts"]] == ["warn"]  # once for the whole batch
    assert len(probe["sent"]) == 3  # a warning, not a block
    assert any("NAVA speech spans" in text for text in probe["toastShown"])  # on screen, not only in the console


def test_span_view_is_neither_saved_in_the_workflow_nor_sent_in_the_prompt(session):
    probe = session["loaded"]["probe"]
    assert probe["widgetNames"] == ["prompt", "negative_prompt", "nava_spans"]
    assert len(probe["serializedWidgets"]) == 2
    assert "nava_spans" not in probe["apiInputs"]


def test_save_node_adds_no_player_of_its_own_for_an_mp4(session):
    # NAVA Save returns Core's video preview; a second player from web/nava.js would double it
    assert session["loaded"]["probe"]["players"][0] is None


def test_save_node_player_plays_sound_saved_alone(session):
    player = session["loaded"]["probe"]["players"][1]
    assert player["tag"] == "AUDIO" and player["controls"] and player["ready"] is True, player
    assert player["duration"] == pytest.approx(1.0, abs=0.05) and player["played"] > 0 and player["audioBytes"] > 0


def test_text_to_av_queued_from_the_ui_shows_one_player_that_plays_with_sound(session):
    queued = session["queued"]["queued"]
    assert queued["end"] == "execution_success", queued
    assert [p["tag"] for p in queued["players"]] == ["VIDEO"], queued["players"]  # one player, not two
    player = queued["player"]
    assert player["ready"] is True and player["visible"] and player["controls"] and not player["muted"], player
    assert (player["width"], player["height"]) == (64, 64)
    assert player["duration"] == pytest.approx(25 / 24, abs=0.05)
    assert player["played"] > 0 and player["audioBytes"] > 0, player


@pytest.mark.parametrize("name", list(PACK_TEMPLATES))
def test_template_opens_legibly_in_a_1600_px_window(session, name):
    """As the template browser opens it: zoomed no lower than the front-end's low-quality threshold (below it
    nodes are grey boxes without text), every node inside the window, every title drawn in full."""
    assert legibility_problems(session["loaded"]["opened"][name]) == []


@pytest.mark.parametrize("name", list(PACK_TEMPLATES))
def test_template_opens_legibly_with_the_vue_node_renderer_too(session, name):
    """The same with "Nodes 2.0", whose nodes are taller: no node is drawn over another."""
    opened = session["vue"]["opened"][name]
    assert opened["vue"] and legibility_problems(opened) == []
    # the note's own body text is drawn at 4.49:1 by the front-end; `code` spans were at 1.8:1
    assert opened["noteText"] and all(t["contrast"] >= 4.0 for t in opened["noteText"]), opened["noteText"]


VIDEO_ONLY_WIDGETS = {"aspect", "width", "height", "video_guidance", "video_align_guidance"}


def test_audio_only_template_shows_no_video_widgets(session):
    def sampler_widgets(name):
        (sampler,) = [n for n in session["loaded"]["opened"][name]["nodes"] if n["type"] == "NAVASampler"]
        return set(sampler["widgets"])

    assert not VIDEO_ONLY_WIDGETS & sampler_widgets("nava_audio_only")
    assert VIDEO_ONLY_WIDGETS <= sampler_widgets("nava_text_to_av")
    # hidden, not removed: the values are still sent
    api = session["loaded"]["loaded"]["nava_audio_only"]["api"]
    assert VIDEO_ONLY_WIDGETS <= set(next(n["inputs"] for n in api.values() if n["class_type"] == "NAVASampler"))


def test_prompt_nodes_text_boxes_are_labelled_in_the_classic_renderer(session):
    labels = session["loaded"]["probe"]["textBoxLabels"]
    assert [label["label"] for label in labels] == ["prompt", "negative prompt"]
    assert all(label["image"] and label["padTop"] >= 12 for label in labels)


def test_a_second_run_uses_a_new_seed(session):
    first, second = session["loaded"]["ranTwice"]["seeds"]
    assert first == 42 and second != first  # NAVA's seed first, then a new clip on every Run


def test_templates_are_listed_and_served_for_the_template_browser(session):
    server = session["server"]
    listed = server.get("/api/workflow_templates")
    # workflows/*.json only, not api/ or inputs/, each shown under its file name: the title people read
    assert sorted(listed[PACK]) == sorted(TITLES.values())
    for path in UI_WORKFLOWS.values():
        assert server.get(f"/api/workflow_templates/{PACK}/{quote(path.name)}") == json.loads(path.read_text())


def test_template_browser_shows_each_title_whole_on_its_card(session):
    cards = session["loaded"]["templateCards"]
    assert [card for card in cards if not card["shown"] or card["cut"]] == [], cards
