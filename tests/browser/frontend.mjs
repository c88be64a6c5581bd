// Drives ComfyUI's real front-end in headless Chromium (playwright-core) for the browser tests and for
// regenerating the shipped workflows.
//
//   NODE_PATH=<node_modules with playwright-core> node frontend.mjs SERVER_URL JOB.json RESULT.json
//
// JOB.json: {"settings": {id: value}, "build": {name: spec}, "load": {name: ui_workflow}, "probe": {...}, "queue": {...},
// "open": {name: {workflow, title?, screenshot}}, "thumbnails": {name: {path, caption}},
// "templateCards": {category, titles, screenshot?}, "screenshot": path} (each optional; see the functions below).
// RESULT.json: {"built": {name: {ui, api}}, "loaded": {name: {api, views}}, "probe": {...}, "queued": {...},
// "opened": {name: {...}}, "templateCards": [{title, shown, cut}], "console": [{type, text, url}]}.
// CHROMIUM names the browser (default /usr/bin/chromium).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [serverUrl, jobPath, resultPath] = process.argv.slice(2);
const THUMBNAIL_AREA = { x: 80, y: 90, width: 1500, height: 900 }; // the canvas, clear of menus and side bar
const job = JSON.parse(readFileSync(jobPath, "utf8"));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
});
const result = { built: {}, loaded: {}, probe: null, queued: null, opened: {}, console: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on("console", (m) => result.console.push({ type: m.type(), text: m.text(), url: m.location()?.url ?? "" }));
  page.on("pageerror", (e) => result.console.push({ type: "pageerror", text: String(e?.stack ?? e), url: "" }));
  await page.goto(serverUrl, { waitUntil: "load", timeout: 120000 });
  // ready: the app exists, our nodes are registered, and web/nava.js has run
  await page.waitForFunction(
    () => window.comfyAPI?.app?.app?.graph && window.LiteGraph?.registered_node_types?.NAVASampler &&
      globalThis[Symbol.for("nava.ui")],
    null, { timeout: 120000 },
  );

  await page.evaluate(`window.navaUntil = ${until.toString()}; window.navaPlay = ${playMedia.toString()};
    window.navaLegibleWidth = ${legibleWidth.toString()}; window.navaContrast = ${contrastOf.toString()}`);
  await page.evaluate(async (settings) => {
    for (const [id, value] of Object.entries(settings)) await window.comfyAPI.app.app.extensionManager.setting.set(id, value);
  }, job.settings ?? {});

  for (const [name, spec] of Object.entries(job.build ?? {})) {
    // built twice: the second time with room below each node for its height in the Vue node renderer
    const reserve = await page.evaluate(vueHeights, (await page.evaluate(buildWorkflow, spec)).ui);
    result.built[name] = await page.evaluate(buildWorkflow, { ...spec, reserve });
  }
  for (const [name, workflow] of Object.entries(job.load ?? {})) {
    result.loaded[name] = await page.evaluate(loadWorkflow, workflow);
  }
  for (const [name, { workflow, screenshot, title }] of Object.entries(job.open ?? {})) {
    // as the template browser opens a template (named by its title); then one frame drawn with every text it draws
    result.opened[name] = await page.evaluate(openTemplate, { name: title ?? name, workflow });
    await page.waitForTimeout(500);
    result.opened[name].drawn = await page.evaluate(drawnTexts);
    if (screenshot) await page.screenshot({ path: screenshot });
  }
  if (job.runTwice) result.ranTwice = await page.evaluate(runTwice, job.runTwice);
  if (job.probe) result.probe = await page.evaluate(probeExtension, job.probe);
  if (job.queue) result.queued = await page.evaluate(queueAndPlay, job.queue);
  for (const [name, { path, caption }] of Object.entries(job.thumbnails ?? {})) {
    // the template browser's picture of a workflow: the whole graph fitted into the canvas area under a caption
    // naming what the template makes, as a PNG
    await page.evaluate(async ({ workflow, area, caption }) => {
      const app = window.comfyAPI.app.app;
      await app.loadGraphData(structuredClone(workflow), true, false);
      const title = window.LiteGraph.NODE_TITLE_HEIGHT;
      const band = area.height * 0.28;
      const boxes = app.graph.nodes.map((n) => [n.pos[0], n.pos[1] - title, n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
      const [left, top] = [0, 1].map((i) => Math.min(...boxes.map((b) => b[i])));
      const [right, bottom] = [2, 3].map((i) => Math.max(...boxes.map((b) => b[i])));
      const scale = Math.min(area.width / (right - left), (area.height - band) / (bottom - top));
      const ds = app.canvas.ds;
      ds.scale = scale;
      ds.offset = [area.x / scale - left + (area.width / scale - (right - left)) / 2, (area.y + band) / scale - top];
      app.canvas.setDirty(true, true);
      const label = document.createElement("div");
      label.id = "nava-thumbnail-caption";
      Object.assign(label.style, {
        position: "fixed", left: `${area.x}px`, top: `${area.y}px`, width: `${area.width}px`, height: `${band}px`,
        display: "flex", alignItems: "center", justifyContent: "center", zIndex: 10000, background: "#1d2733",
        color: "#f2f2f2", font: "bold 96px sans-serif", letterSpacing: "1px",
      });
      label.textContent = caption;
      document.getElementById("nava-thumbnail-caption")?.remove();
      document.body.append(label);
    }, { workflow: result.built[name]?.ui ?? job.load[name], area: THUMBNAIL_AREA, caption });
    await page.waitForTimeout(1500);
    await page.screenshot({ path, clip: THUMBNAIL_AREA });
    await page.evaluate(() => document.getElementById("nava-thumbnail-caption")?.remove());
  }
  if (job.templateCards) {
    // the template browser, opened on the pack's category: is each title shown on a card, and shown whole?
    const { category, titles, screenshot } = job.templateCards;
    await page.evaluate(() => window.comfyAPI.app.app.extensionManager.command.execute("Comfy.BrowseTemplates"));
    await page.getByText(category, { exact: true }).first().click({ timeout: 20000 });
    await page.waitForTimeout(1500);
    result.templateCards = await page.evaluate((titles) => titles.map((title) => {
      const shown = [...document.querySelectorAll("[role=dialog] *")] // not the workflow tabs, which cut titles
        .find((el) => el.children.length === 0 && el.textContent.trim() === title && el.getClientRects().length);
      // cut with an ellipsis on one line, or clamped to one line (frontend 1.49's line-clamp-1)
      const cut = shown ? shown.scrollWidth > shown.clientWidth || shown.scrollHeight > shown.clientHeight : null;
      return { title, shown: !!shown, cut };
    }), titles);
    if (screenshot) await page.screenshot({ path: screenshot });
    await page.keyboard.press("Escape");
  }
  if (job.screenshot) await page.screenshot({ path: job.screenshot });
} finally {
  await browser.close();
  writeFileSync(resultPath, JSON.stringify(result, null, 1));
}

// --- functions below run inside the page ---

// spec: {nodes: [{id, type, row?, col, title?, minSize?, widgets: {name: value}, models?: [...]}],
//        links: [[src id, output name, dst id, input name]], rows?: {row: group title}, reserve?: {id: height}}
// Nodes are laid out in rows, top to bottom in `row` order (default 0), each row in columns, left to right in `col`
// order, each column stacked top to bottom in spec order; a row named in `rows` is framed by a group with that title.
// Every node is made wide enough for its title and for each widget's label and value; `reserve` keeps room below
// a node for the height the Vue node renderer gives it (see vueHeights).
async function buildWorkflow(spec) {
  const app = window.comfyAPI.app.app;
  const LiteGraph = window.LiteGraph;
  await app.loadGraphData({ nodes: [], links: [], groups: [], version: 0.4, last_node_id: 0, last_link_id: 0 }, true, false);
  const graph = app.graph;
  const byId = {};
  for (const n of spec.nodes) {
    const node = LiteGraph.createNode(n.type);
    if (!node) throw new Error(`node type ${n.type} is not registered`);
    node.id = n.id;
    graph.add(node);
    if (n.title) node.title = n.title;
    for (const [name, value] of Object.entries(n.widgets ?? {})) {
      const widget = node.widgets?.find((w) => w.name === name);
      if (!widget) throw new Error(`${n.type} has no widget ${name}: ${node.widgets?.map((w) => w.name)}`);
      widget.value = value;
      widget.callback?.(value); // as when a person picks it (web/nava.js reacts to the sampler's mode)
    }
    if (n.models) node.properties.models = n.models;
    byId[n.id] = node;
  }
  for (const [src, output, dst, input] of spec.links) {
    const from = byId[src], to = byId[dst];
    const slot = from.outputs.findIndex((o) => o.name === output);
    if (slot < 0) throw new Error(`${from.type} has no output ${output}: ${from.outputs.map((o) => o.name)}`);
    if (to.findInputSlot(input) < 0) throw new Error(`${to.type} has no input ${input}`);
    if (!from.connect(slot, to, input)) throw new Error(`cannot link ${from.type}.${output} -> ${to.type}.${input}`);
  }
  const [gapX, gapY] = [16, 16];
  const title = LiteGraph.NODE_TITLE_HEIGHT;
  const sorted = (values) => [...new Set(values)].sort((a, b) => a - b);
  let top = 0;
  for (const row of sorted(spec.nodes.map((n) => n.row ?? 0))) {
    const framed = spec.rows?.[row];
    const group = framed ? new (LiteGraph.LGraphGroup ?? window.comfyAPI.litegraph.LGraphGroup)(framed) : null;
    const inset = group ? [12, group.font_size * 1.4 + 12] : [0, 0]; // room for the group's frame and title
    const cells = spec.nodes.filter((n) => (n.row ?? 0) === row);
    let [x, bottom] = [inset[0], top];
    for (const col of sorted(cells.map((n) => n.col))) {
      const column = cells.filter((m) => m.col === col);
      const width = Math.max(...column.map((n) => Math.max(n.minSize?.[0] ?? 0, byId[n.id].computeSize()[0],
        window.navaLegibleWidth(byId[n.id]))));
      let y = top + inset[1];
      for (const n of column) {
        const node = byId[n.id];
        node.setSize([width, Math.max(n.minSize?.[1] ?? 0, node.computeSize()[1])]);
        node.pos = [x, y + title];
        y += title + Math.max(node.size[1], spec.reserve?.[n.id] ?? 0) + gapY;
      }
      x += width + gapX;
      bottom = Math.max(bottom, y - gapY);
    }
    if (group) {
      graph.add(group);
      group.pos = [0, top];
      group.size = [x - gapX + inset[0], bottom - top + 12];
    }
    top = bottom + (group ? 12 : 0) + 2 * gapY;
  }
  const ui = graph.serialize();
  const api = await app.graphToPrompt();
  return { ui, api: api.output };
}

// Each node's height, by id, as the Vue node renderer ("Nodes 2.0") draws the workflow; the renderer is switched
// back to what it was.
async function vueHeights(workflow) {
  const app = window.comfyAPI.app.app;
  const setting = app.extensionManager.setting;
  const before = setting.get("Comfy.VueNodes.Enabled");
  await setting.set("Comfy.VueNodes.Enabled", true);
  try {
    await app.loadGraphData(structuredClone(workflow), true, false);
    await window.navaUntil(() => document.querySelectorAll("[data-node-id]").length === app.graph.nodes.length, 10000);
    await window.navaUntil(() => false, 500); // the renderer writes measured sizes back on its next frames
    return Object.fromEntries(app.graph.nodes.map((node) => [node.id, node.size[1]]));
  } finally {
    await setting.set("Comfy.VueNodes.Enabled", before);
  }
}

// Wide enough to draw the title and every visible widget's label beside its value without cutting either.
function legibleWidth(node) {
  const LiteGraph = window.LiteGraph;
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${LiteGraph.NODE_TEXT_SIZE}px ${LiteGraph.NODE_FONT ?? "Arial"}`;
  const titleWidth = ctx.measureText(node.title).width + 2 * LiteGraph.NODE_TITLE_HEIGHT + 40; // dot, badges
  ctx.font = `${LiteGraph.NODE_SUBTEXT_SIZE ?? 12}px ${LiteGraph.NODE_FONT ?? "Arial"}`;
  const widgetWidths = (node.widgets ?? [])
    .filter((w) => !w.hidden && !w.element && ["combo", "number", "text", "toggle", "slider"].includes(w.type))
    .map((w) => ctx.measureText(String(w.label ?? w.name)).width + ctx.measureText(String(w.value)).width + 90);
  return Math.ceil(Math.max(titleWidth, ...widgetWidths));
}

// The template browser's own call (both front-end versions), then what a person sees at the opening view.
async function openTemplate({ name, workflow }) {
  const app = window.comfyAPI.app.app;
  await app.loadGraphData(structuredClone(workflow), true, true, name, { openSource: "template" });
  await window.navaUntil(() => false, 300); // let the view settle (fitView runs on the next frame)
  const canvas = app.canvas;
  const vue = !!app.extensionManager.setting.get("Comfy.VueNodes.Enabled");
  const rect = canvas.canvas.getBoundingClientRect();
  const toScreen = (x, y) => canvas.ds.convertOffsetToCanvas([x, y]);
  const title = window.LiteGraph.NODE_TITLE_HEIGHT;
  const nodes = app.graph.nodes.map((n) => {
    const [left, top] = toScreen(n.pos[0], n.pos[1] - title);
    const [right, bottom] = toScreen(n.pos[0] + n.size[0], n.pos[1] + n.size[1]);
    return { id: n.id, type: n.type, title: n.title, box: [left + rect.left, top + rect.top, right + rect.left, bottom + rect.top],
      pos: [...n.pos], size: [...n.size], widgets: (n.widgets ?? []).filter((w) => !w.hidden && w.type !== "hidden").map((w) => w.name) };
  });
  const out = {
    scale: canvas.ds.scale, threshold: canvas._lowQualityZoomThreshold ?? null, lowQuality: canvas.low_quality,
    view: [rect.left, rect.top, rect.right, rect.bottom], nodes, vue,
  };
  if (vue) {
    await window.navaUntil(() => document.querySelector("[data-node-id]"), 5000);
    out.domBoxes = [...document.querySelectorAll("[data-node-id]")].map((el) => {
      const r = el.getBoundingClientRect();
      const title = app.graph.getNodeById(Number(el.dataset.nodeId))?.title;
      return { title, box: [r.left, r.top, r.right, r.bottom] };
    });
    // every piece of note text: its colour against the background actually behind it
    out.noteText = [...document.querySelectorAll("[data-node-id]")]
      .filter((el) => app.graph.getNodeById(Number(el.dataset.nodeId))?.type === "MarkdownNote")
      .flatMap((el) => [...el.querySelectorAll("code, strong, p, li, td, th, h2")])
      .map((el) => ({ tag: el.tagName, text: el.textContent.slice(0, 60), contrast: window.navaContrast(el) }));
  }
  return out;
}

// WCAG contrast ratio of an element's text colour against the first opaque background behind it.
function contrastOf(el) {
  const rgba = (css) => (css.match(/[\d.]+/g) ?? []).map(Number);
  let background = null;
  for (let node = el; node && !background; node = node.parentElement) {
    const c = rgba(getComputedStyle(node).backgroundColor);
    if (c.length >= 3 && (c.length === 3 || c[3] > 0.9)) background = c;
  }
  const luminance = ([r, g, b]) => {
    const lin = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const [a, b] = [luminance(rgba(getComputedStyle(el).color)), luminance(background ?? [0, 0, 0])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

// Draws one frame of the canvas and returns every string drawn (titles, widget labels and values).
function drawnTexts() {
  const app = window.comfyAPI.app.app;
  const texts = [];
  const fillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    texts.push(String(text));
    return fillText.call(this, text, ...rest);
  };
  try {
    app.canvas.draw(true, true);
  } finally {
    CanvasRenderingContext2D.prototype.fillText = fillText;
  }
  return texts;
}

async function loadWorkflow(workflow) {
  const app = window.comfyAPI.app.app;
  await app.loadGraphData(structuredClone(workflow), true, false);
  // frontend 1.49 can still show the previous graph for a moment after the call returns (seen with a busy CPU)
  const types = (nodes) => nodes.map((n) => `${n.id}:${n.type}`).sort().join();
  await window.navaUntil(() => types(app.graph.nodes) === types(workflow.nodes), 10000);
  const api = await app.graphToPrompt();
  const views = app.graph.nodes
    .filter((n) => n.type === "NAVASpeakerSpanPrompt")
    .map((n) => ({ id: n.id, problems: n.nava_problems ?? null, text: n.widgets.find((w) => w.name === "nava_spans")?.element?.textContent ?? null }));
  if (app.extensionManager.setting.get("Comfy.VueNodes.Enabled")) {
    await window.navaUntil(() => document.querySelector("[data-node-id]"), 5000); // Vue-rendered nodes
  }
  return { api: api.output, views, vueNodes: document.querySelectorAll("[data-node-id]").length };
}

// Exercises web/nava.js on a live graph: span view, voice counts, queue warning, and the Save player.
async function probeExtension(probe) {
  const app = window.comfyAPI.app.app;
  const LiteGraph = window.LiteGraph;
  const out = {};
  await app.loadGraphData({ nodes: [], links: [], groups: [], version: 0.4, last_node_id: 0, last_link_id: 0 }, true, false);
  const node = LiteGraph.createNode("NAVASpeakerSpanPrompt");
  app.graph.add(node);
  const view = () => node.widgets.find((w) => w.name === "nava_spans");
  const state = () => ({
    problems: [...(node.nava_problems ?? [])],
    status: view().element.firstChild.textContent,
    spans: [...view().element.querySelectorAll("span[title^='speech span']")].map((s) => [s.textContent, s.style.background]),
  });
  const setPrompt = (text) => {
    const widget = node.widgets.find((w) => w.name === "prompt");
    widget.value = text;
    widget.inputEl.dispatchEvent(new Event("input"));
  };
  out.widgetNames = node.widgets.map((w) => w.name);
  out.textBoxLabels = ["prompt", "negative_prompt"].map((name) => {
    const box = node.widgets.find((w) => w.name === name).inputEl; // its own style: it may not be on screen yet
    return { label: box.dataset.navaLabel ?? null, image: box.style.backgroundImage.includes("svg"),
      padTop: parseFloat(box.style.paddingTop) };
  });
  for (const [label, text] of Object.entries(probe.prompts ?? {})) {
    setPrompt(text);
    out[label] = state();
  }
  // voices: connect LoadAudio to voice_1..n
  setPrompt(probe.voicePrompt);
  for (let i = 1; i <= probe.voices; i++) {
    const load = LiteGraph.createNode("LoadAudio");
    app.graph.add(load);
    load.connect(0, node, `voice_${i}`);
  }
  out.withVoices = state();
  // Queue as the Run button does (app.queuePrompt), with the POST replaced by a stub: the warning toast must
  // appear, and the prompt must still be sent.
  const toasts = [];
  const toast = app.extensionManager.toast;
  const add = toast.add;
  toast.add = (message) => { toasts.push(message); return add.call(toast, message); };
  const api = window.comfyAPI.api.api;
  const post = api.queuePrompt;
  out.sent = [];
  api.queuePrompt = async (number, prompt) => { out.sent.push(Object.keys(prompt.output)); return { prompt_id: "probe", node_errors: {} }; };
  try {
    await app.queuePrompt(0, probe.batch ?? 1);
  } finally {
    api.queuePrompt = post;
    toast.add = add;
  }
  out.toasts = toasts.map((t) => ({ severity: t.severity, summary: t.summary, detail: t.detail }));
  await window.navaUntil(() => document.querySelector(".p-toast-message"), 5000);
  out.toastShown = [...document.querySelectorAll(".p-toast-message")].map((e) => e.textContent);
  out.serializedWidgets = app.graph.serialize().nodes.find((n) => n.type === "NAVASpeakerSpanPrompt").widgets_values;
  out.apiInputs = Object.keys((await app.graphToPrompt()).output[String(node.id)]?.inputs ?? {});

  // NAVA Save given an `executed` output (Core's video preview {images, animated} or {audio: [...]}), one node each
  out.players = [];
  for (const output of probe.saved ?? []) {
    const save = LiteGraph.createNode("NAVASaveAV");
    app.graph.add(save);
    save.onExecuted(output);
    const media = save.widgets.find((w) => w.name === "nava_player")?.element.querySelector("video, audio");
    out.players.push(media ? await window.navaPlay(media) : null);
  }
  return out;
}

// Loads a workflow, changes widget values ({node type: {widget: value}}), presses Queue the way the Run button
// does, waits for the run to end, then plays what NAVA Save shows.
async function queueAndPlay({ workflow, overrides, timeoutMs }) {
  const app = window.comfyAPI.app.app;
  const api = window.comfyAPI.api.api;
  await app.loadGraphData(structuredClone(workflow), true, true);
  for (const node of app.graph.nodes) {
    for (const [name, value] of Object.entries(overrides[node.type] ?? {})) {
      node.widgets.find((w) => w.name === name).value = value;
    }
  }
  const ended = new Promise((resolve) => {
    for (const type of ["execution_success", "execution_error", "execution_interrupted"]) {
      api.addEventListener(type, (event) => resolve({ type, detail: event.detail }));
    }
    setTimeout(() => resolve({ type: "timeout" }), timeoutMs);
  });
  await app.queuePrompt(0, 1);
  const end = await ended;
  const out = { end: end.type, error: end.type === "execution_error" ? end.detail : null };
  // every player on screen once the front-end has shown the result (one expected: the front-end's own)
  const players = () => [...document.querySelectorAll("video, audio")].filter((m) => m.getBoundingClientRect().height > 0);
  await window.navaUntil(() => players().length > 0, 10000);
  await window.navaUntil(() => false, 1000); // a second player would appear by now
  const save = app.graph.nodes.find((n) => n.type === "NAVASaveAV");
  out.saveWidgets = save.widgets.map((w) => w.name);
  out.players = players().map((m) => ({ tag: m.tagName, src: m.getAttribute("src") ?? m.currentSrc }));
  const media = players()[0];
  if (media) out.player = await window.navaPlay(media);
  return out;
}

// Presses Run twice on a workflow with the POST replaced by a stub; returns each prompt's NAVA Sampler seed.
async function runTwice(workflow) {
  const app = window.comfyAPI.app.app;
  const api = window.comfyAPI.api.api;
  await app.loadGraphData(structuredClone(workflow), true, false);
  const post = api.queuePrompt;
  const seeds = [];
  api.queuePrompt = async (number, prompt) => {
    const sampler = Object.values(prompt.output).find((n) => n.class_type === "NAVASampler");
    seeds.push(sampler.inputs.seed);
    return { prompt_id: `probe${seeds.length}`, node_errors: {} };
  };
  try {
    await app.queuePrompt(0, 1);
    await app.queuePrompt(0, 1);
  } finally {
    api.queuePrompt = post;
  }
  return { seeds };
}

// Waits for the media's metadata, plays it for a moment, and reports what a person would see and hear.
async function playMedia(media) {
  const out = { tag: media.tagName, controls: media.controls, muted: media.muted, src: media.getAttribute("src") };
  out.ready = await new Promise((resolve) => {
    if (media.readyState >= 1) return resolve(true);
    media.addEventListener("loadedmetadata", () => resolve(true));
    media.addEventListener("error", () => resolve(`error ${media.error?.code}: ${media.error?.message}`));
    setTimeout(() => resolve("timeout"), 20000);
  });
  try {
    await media.play();
    await window.navaUntil(() => media.currentTime > 0.2 && media.webkitAudioDecodedByteCount > 0, 10000);
  } catch (e) {
    out.playError = String(e);
  }
  return Object.assign(out, {
    duration: media.duration, width: media.videoWidth ?? null, height: media.videoHeight ?? null,
    played: media.currentTime, audioBytes: media.webkitAudioDecodedByteCount ?? null,
    visible: media.getBoundingClientRect().height > 0,
  });
}

// Resolves when `condition()` holds (checked every animation frame), or after `timeoutMs` regardless.
function until(condition, timeoutMs) {
  const end = performance.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => (condition() || performance.now() > end ? resolve() : requestAnimationFrame(check));
    check();
  });
}
