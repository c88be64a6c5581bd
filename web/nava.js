// NAVA front-end: speech spans in the prompt node, span/voice counts, a warning before Queue, and an
// in-node player for sound saved alone by NAVA Save. Served at /extensions/<pack>/nava.js, so the app lives
// two levels up.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { SPAN_CLOSE, SPAN_OPEN, checkPromptNode } from "./spans.js";

const EXTENSION = "nava.ui";
const PROMPT_NODE = "NAVASpeakerSpanPrompt";
const SAVE_NODE = "NAVASaveAV";
const SAMPLER_NODE = "NAVASampler";
// Sampler widgets that only shape the video: hidden while the mode is "audio only" (their values are kept and
// still sent, so switching back restores them and saved workflows load unchanged).
const VIDEO_ONLY_WIDGETS = ["aspect", "width", "height", "video_guidance", "video_align_guidance"];
const MAX_VOICES = 4;
// one colour per span; span i speaks with voice_i, so the swatch beside voice_i matches
const SPEAKER_COLOURS = ["#f2a33a", "#4fb3e8", "#79c46b", "#e86fa8"];
const ERROR_COLOUR = "#ff5c5c";

const speakerColour = (index) => SPEAKER_COLOURS[index % SPEAKER_COLOURS.length];

function connectedVoices(node) {
  return (node.inputs ?? [])
    .filter((input) => /^voice_\d+$/.test(input.name) && input.link != null)
    .map((input) => Number(input.name.slice("voice_".length)));
}

function hasLink(node, name) {
  return node.inputs?.some((input) => input.name === name && input.link != null) ?? false;
}

function inspectNode(node) {
  // a linked prompt's widget keeps a text that is not used
  const prompt = hasLink(node, "prompt") ? null : String(node.widgets?.find((w) => w.name === "prompt")?.value ?? "");
  return checkPromptNode(prompt, connectedVoices(node), hasLink(node, "speaker_encoder"));
}

function element(tag, style = {}, text = undefined) {
  const el = document.createElement(tag);
  Object.assign(el.style, style);
  if (text !== undefined) el.textContent = text;
  return el;
}

// The prompt again, below the textarea: spans on their speaker's colour, the faulty tag in red.
function renderMirror(target, prompt, spans, error) {
  const pieces = [];
  let cursor = 0;
  const plain = (until) => {
    if (until > cursor) pieces.push(element("span", { opacity: "0.75" }, prompt.slice(cursor, until)));
    cursor = Math.max(cursor, until);
  };
  for (const span of spans) {
    const colour = speakerColour(span.index);
    plain(span.open);
    pieces.push(element("span", { color: colour, fontWeight: "bold" }, SPAN_OPEN));
    const spoken = element("span", { background: colour + "33", borderBottom: `2px solid ${colour}`, borderRadius: "2px" }, span.text);
    spoken.title = `speech span ${span.index + 1}: voice_${span.index + 1}`;
    pieces.push(spoken);
    pieces.push(element("span", { color: colour, fontWeight: "bold" }, SPAN_CLOSE));
    cursor = span.end + SPAN_CLOSE.length;
  }
  if (error) {
    plain(error.at);
    const bad = element("span", { background: ERROR_COLOUR + "55", textDecoration: `wavy underline ${ERROR_COLOUR}` },
      prompt.slice(error.at, error.at + error.length));
    bad.title = error.message;
    pieces.push(bad);
    cursor = error.at + error.length;
  }
  plain(prompt.length);
  target.replaceChildren(...pieces);
}

function renderStatus(target, state) {
  const items = [element("span", { marginRight: "8px" }, state.linked
    ? "prompt from its input: its spans are checked when the graph runs" : `${state.spans.length} span(s)`)];
  for (let slot = 1; slot <= Math.max(MAX_VOICES, ...state.voices); slot++) {
    const used = state.voices.includes(slot);
    const hasSpan = state.linked ? used : slot <= state.spans.length; // a linked prompt's spans come at run time
    if (!used && !hasSpan) continue;
    const colour = hasSpan ? speakerColour(slot - 1) : ERROR_COLOUR;
    const label = used ? (hasSpan ? `voice_${slot} ✓` : `voice_${slot}: no span`) : `span ${slot}: timbre from text`;
    const item = element("span", { marginRight: "8px", whiteSpace: "nowrap" });
    item.append(element("span", { color: colour }, "● "), element("span", { opacity: used ? "1" : "0.7" }, label));
    items.push(item);
  }
  for (const problem of state.problems) {
    items.push(element("div", { color: ERROR_COLOUR, marginTop: "2px" }, "⚠ " + problem));
  }
  target.replaceChildren(...items);
}

function attachSpanView(node) {
  const root = element("div", {
    font: "12px monospace", color: "var(--input-text, #ddd)", background: "var(--comfy-input-bg, #222)",
    border: "1px solid var(--border-color, #444)", borderRadius: "4px", padding: "4px 6px",
    overflowY: "auto", boxSizing: "border-box", whiteSpace: "pre-wrap", wordBreak: "break-word",
  });
  root.className = "nava-span-view";
  const status = element("div", { fontFamily: "sans-serif", marginBottom: "4px" });
  const mirror = element("div");
  root.append(status, mirror);

  let shown = null;
  const refresh = () => {
    const state = inspectNode(node);
    const key = JSON.stringify([state.linked, state.text, state.voices, state.problems]);
    if (key === shown) return state;
    shown = key;
    renderStatus(status, state);
    renderMirror(mirror, state.text, state.spans, state.error);
    node.nava_problems = state.problems;
    root.style.borderColor = state.problems.length ? ERROR_COLOUR : "var(--border-color, #444)";
    return state;
  };

  const widget = node.addDOMWidget("nava_spans", "nava_spans", root, {
    serialize: false, // display only: not in widgets_values, not in the API prompt
    hideOnZoom: false,
    getValue: () => undefined,
    setValue: () => {},
    getMinHeight: () => 70,
    getMaxHeight: () => 260,
  });
  widget.serialize = false;
  // The queue path calls this on every widget just before it builds the prompt.
  widget.beforeQueued = () => {
    const state = refresh();
    if (state.problems.length) warnBeforeQueue(node, state.problems);
  };
  node.nava_refresh = refresh;

  // the prompt widget calls its callback on typing and whenever code sets its value
  const promptWidget = node.widgets.find((w) => w.name === "prompt");
  if (promptWidget) {
    const callback = promptWidget.callback;
    promptWidget.callback = function (...args) {
      refresh();
      return callback?.apply(this, args);
    };
  }
  refresh();
}

// The classic renderer draws a multiline widget as a bare text box: name each one in a band at its top.
function labelTextBoxes(node) {
  for (const name of ["prompt", "negative_prompt"]) {
    const box = node.widgets?.find((w) => w.name === name)?.inputEl;
    if (!(box instanceof HTMLTextAreaElement) || box.dataset.navaLabel) continue;
    const label = name.replace("_", " ");
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="14"><text x="0" y="10" ` +
      `font-family="sans-serif" font-size="10" fill="#b8b8b8">${label}</text></svg>`;
    Object.assign(box.style, {
      backgroundImage: `url("data:image/svg+xml,${encodeURIComponent(svg)}")`,
      backgroundRepeat: "no-repeat", backgroundPosition: "6px 3px", paddingTop: "16px",
    });
    box.dataset.navaLabel = label;
  }
}

let lastWarning = { detail: "", at: 0 };

function warnBeforeQueue(node, problems) {
  const where = `${node.title ?? "NAVA Speaker Span Prompt"} (#${node.id})`;
  const detail = `${where}: ${problems.join(" | ")}. The prompt was queued anyway; the node will stop with this error.`;
  // a batch of N queues the graph N times in a row: one warning is enough
  if (detail === lastWarning.detail && performance.now() - lastWarning.at < 5000) return;
  lastWarning = { detail, at: performance.now() };
  const toast = app.extensionManager?.toast;
  if (toast?.add) {
    toast.add({ severity: "warn", summary: "NAVA speech spans", detail, life: 10000 });
  } else {
    console.warn("[NAVA] " + detail);
  }
  app.canvas?.selectNode?.(node);
}

function viewURL(file) {
  const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder ?? "", type: file.type ?? "output" });
  return api.apiURL(`/view?${query}${app.getRandParam?.() ?? ""}`);
}

// Sound saved alone, playable in the node. A saved MP4 needs nothing here: NAVA Save returns it the way Core's
// Save Video does, and the front-end shows its own player (one player, never two).
function showSavedSound(node, output) {
  const file = output?.images ? null : output?.audio?.[0];
  if (!file) return;
  if (!node.nava_player) {
    const box = element("div", { width: "100%", display: "flex", alignItems: "center", justifyContent: "center" });
    const widget = node.addDOMWidget("nava_player", "nava_player", box, {
      serialize: false, hideOnZoom: false, getValue: () => undefined, setValue: () => {}, getMinHeight: () => 60,
    });
    widget.serialize = false;
    node.nava_player = box;
  }
  const media = element("audio", { width: "100%" });
  Object.assign(media, { controls: true, preload: "auto", className: "nava-audio", title: file.filename });
  media.src = viewURL(file);
  node.nava_player.replaceChildren(media);
  node.setSize([node.size[0], Math.max(node.size[1], node.computeSize()[1])]);
  app.graph.setDirtyCanvas(true, true);
}

function showModeWidgets(node) {
  const audioOnly = node.widgets?.find((w) => w.name === "mode")?.value === "audio only";
  let changed = false;
  for (const widget of node.widgets ?? []) {
    if (!VIDEO_ONLY_WIDGETS.includes(widget.name) || !!widget.hidden === audioOnly) continue;
    widget.hidden = audioOnly; // the classic renderer
    (widget.options ??= {}).hidden = audioOnly; // the Vue node renderer reads the option
    changed = true;
  }
  if (!changed) return;
  node.setSize([node.size[0], node.computeSize()[1]]);
  app.graph?.setDirtyCanvas(true, true);
}

function followMode(node) {
  const mode = node.widgets?.find((w) => w.name === "mode");
  if (!mode) return;
  const callback = mode.callback;
  mode.callback = function (...args) {
    const result = callback?.apply(this, args);
    showModeWidgets(node);
    return result;
  };
  showModeWidgets(node);
}

function registerOnce(extension) {
  // The web folder can be served twice (pyproject [tool.comfy] web, and WEB_DIRECTORY under the folder's own
  // name when that differs), so this module may run twice: register the first time only.
  const flag = Symbol.for(extension.name);
  if (globalThis[flag]) return;
  globalThis[flag] = true;
  app.registerExtension(extension);
}

registerOnce({
  name: EXTENSION,
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === PROMPT_NODE) {
      const created = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function (...args) {
        const result = created?.apply(this, args);
        attachSpanView(this);
        labelTextBoxes(this);
        return result;
      };
      const connections = nodeType.prototype.onConnectionsChange;
      nodeType.prototype.onConnectionsChange = function (...args) {
        const result = connections?.apply(this, args);
        this.nava_refresh?.();
        return result;
      };
      const configured = nodeType.prototype.onConfigure;
      nodeType.prototype.onConfigure = function (...args) {
        const result = configured?.apply(this, args);
        this.nava_refresh?.();
        return result;
      };
    }
    if (nodeData.name === SAMPLER_NODE) {
      const created = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function (...args) {
        const result = created?.apply(this, args);
        followMode(this);
        return result;
      };
      const configured = nodeType.prototype.onConfigure;
      nodeType.prototype.onConfigure = function (...args) {
        const result = configured?.apply(this, args);
        showModeWidgets(this);
        return result;
      };
    }
    if (nodeData.name === SAVE_NODE) {
      const executed = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (output) {
        const result = executed?.apply(this, arguments);
        showSavedSound(this, output);
        return result;
      };
    }
  },
});
