// Drives ComfyUI's real front-end in headless Chromium (playwright-core) for the browser tests and for
// regenerating the shipped workflows.
//
//   NODE_PATH=<node_modules with playwright-core> node frontend.mjs SERVER_URL JOB.json RESULT.json
//
// JOB.json: {"settings": {id: value}, "build": {name: spec}, "load": {name: ui_workflow}, "probe": {...}, "queue": {...},
// "thumbnails": {name: png path}, "screenshot": path} (each optional; see the functions below). RESULT.json: {"built": {name: {ui, api}},
// "loaded": {name: {api, views}}, "probe": {...}, "queued": {...}, "console": [{type, text, url}]}.
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
const result = { built: {}, loaded: {}, probe: null, queued: null, console: [] };
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

  await page.evaluate(`window.navaUntil = ${until.toString()}; window.navaPlay = ${playMedia.toString()}`);
  await page.evaluate(async (settings) => {
    for (const [id, value] of Object.entries(settings)) await window.comfyAPI.app.app.extensionManager.setting.set(id, value);
  }, job.settings ?? {});

  for (const [name, spec] of Object.entries(job.build ?? {})) {
    result.built[name] = await page.evaluate(buildWorkflow, spec);
  }
  for (const [name, workflow] of Object.entries(job.load ?? {})) {
    result.loaded[name] = await page.evaluate(loadWorkflow, workflow);
  }
  if (job.probe) result.probe = await page.evaluate(probeExtension, job.probe);
  if (job.queue) result.queued = await page.evaluate(queueAndPlay, job.queue);
  for (const [name, path] of Object.entries(job.thumbnails ?? {})) {
    // the template browser's picture of a workflow: the whole graph fitted into the canvas area, as a PNG
    await page.evaluate(async ({ workflow, area }) => {
      const app = window.comfyAPI.app.app;
      await app.loadGraphData(structuredClone(workflow), true, false);
      const title = window.LiteGraph.NODE_TITLE_HEIGHT;
      const boxes = app.graph.nodes.map((n) => [n.pos[0], n.pos[1] - title, n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
      const [left, top] = [0, 1].map((i) => Math.min(...boxes.map((b) => b[i])));
      const [right, bottom] = [2, 3].map((i) => Math.max(...boxes.map((b) => b[i])));
      const scale = Math.min(area.width / (right - left), area.height / (bottom - top));
      const ds = app.canvas.ds;
      ds.scale = scale;
      ds.offset = [area.x / scale - left + (area.width / scale - (right - left)) / 2, area.y / scale - top];
      app.canvas.setDirty(true, true);
    }, { workflow: result.built[name]?.ui ?? job.load[name], area: THUMBNAIL_AREA });
    await page.waitForTimeout(1500);
    await page.screenshot({ path, clip: THUMBNAIL_AREA });
  }
  if (job.screenshot) await page.screenshot({ path: job.screenshot });
} finally {
  await browser.close();
  writeFileSync(resultPath, JSON.stringify(result, null, 1));
}

// --- functions below run inside the page ---

// spec: {nodes: [{id, type, title?, pos, size?, widgets: {name: value}, models?: [...]}],
//        links: [[src id, output name, dst id, input name]], extra?: {...}}
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
    node.pos = n.pos;
    if (n.title) node.title = n.title;
    for (const [name, value] of Object.entries(n.widgets ?? {})) {
      const widget = node.widgets?.find((w) => w.name === name);
      if (!widget) throw new Error(`${n.type} has no widget ${name}: ${node.widgets?.map((w) => w.name)}`);
      widget.value = value;
    }
    if (n.models) node.properties.models = n.models;
    node.setSize(n.size ?? node.computeSize());
    byId[n.id] = node;
  }
  for (const [src, output, dst, input] of spec.links) {
    const from = byId[src], to = byId[dst];
    const slot = from.outputs.findIndex((o) => o.name === output);
    if (slot < 0) throw new Error(`${from.type} has no output ${output}: ${from.outputs.map((o) => o.name)}`);
    if (to.findInputSlot(input) < 0) throw new Error(`${to.type} has no input ${input}`);
    if (!from.connect(slot, to, input)) throw new Error(`cannot link ${from.type}.${output} -> ${to.type}.${input}`);
  }
  const ui = graph.serialize();
  const api = await app.graphToPrompt();
  return { ui, api: api.output };
}

async function loadWorkflow(workflow) {
  const app = window.comfyAPI.app.app;
  await app.loadGraphData(structuredClone(workflow), true, false);
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

  // NAVA Save given an `executed` output ({nava_video: [...]} or {audio: [...]}), one node each
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
  const save = app.graph.nodes.find((n) => n.type === "NAVASaveAV");
  await window.navaUntil(() => save.widgets.some((w) => w.name === "nava_player"), 5000);
  out.saveWidgets = save.widgets.map((w) => w.name);
  out.videosOnNode = save.widgets.filter((w) => w.element).map((w) => w.element.querySelectorAll("video").length);
  const media = save.widgets.find((w) => w.name === "nava_player")?.element.querySelector("video, audio");
  if (media) out.player = await window.navaPlay(media);
  return out;
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
