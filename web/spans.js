// Speech spans in a NAVA prompt: the rules of nava_model/prompt.py, for the node's live view. No imports, so
// tests can run it under node and compare it with the Python parser.
export const SPAN_OPEN = "<S>";
export const SPAN_CLOSE = "<E>";
const PLACEHOLDER = "<extra_id_2>"; // the server strips it before checking spans; so do we
const EXAMPLE = "<S>Hello there.<E>";

// Same rules and wording as the server: the first problem stops the parse.
export function parseSpeechSpans(prompt) {
  const spans = [];
  let openTag = null; // index of the pending "<S>"
  const tags = /<S>|<E>/g;
  for (let tag; (tag = tags.exec(prompt)) !== null; ) {
    const at = tag.index;
    if (tag[0] === SPAN_OPEN) {
      if (openTag !== null) {
        return { spans, error: { at, length: SPAN_OPEN.length, message:
          `'${SPAN_OPEN}' at character ${at} starts a speech span inside the one opened at character ${openTag}; ` +
          `spans cannot nest: close the first with '${SPAN_CLOSE}' before opening the next, e.g. '${EXAMPLE} <S>Hi!<E>'` } };
      }
      openTag = at;
      continue;
    }
    if (openTag === null) {
      return { spans, error: { at, length: SPAN_CLOSE.length, message:
        `'${SPAN_CLOSE}' at character ${at} closes no speech span; put '${SPAN_OPEN}' before the spoken words, e.g. '${EXAMPLE}'` } };
    }
    const start = openTag + SPAN_OPEN.length;
    const text = prompt.slice(start, at);
    if (!text.split(PLACEHOLDER).join("").trim()) {
      return { spans, error: { at: openTag, length: at + SPAN_CLOSE.length - openTag, message:
        `speech span ${spans.length + 1} (character ${openTag}) is empty; write the words to be spoken between ` +
        `'${SPAN_OPEN}' and '${SPAN_CLOSE}', e.g. '${EXAMPLE}', or remove the pair` } };
    }
    spans.push({ index: spans.length, open: openTag, start, end: at, text });
    openTag = null;
  }
  if (openTag !== null) {
    return { spans, error: { at: openTag, length: SPAN_OPEN.length, message:
      `'${SPAN_OPEN}' at character ${openTag} is never closed; end the spoken words with '${SPAN_CLOSE}', e.g. '${EXAMPLE}'` } };
  }
  return { spans, error: null };
}

// Everything the node shows and the queue check reports, from the prompt text and the wiring (voices: the
// numbers of the connected voice_N inputs). `text` is the prompt the span offsets refer to. A prompt of null
// comes from a link (e.g. NAVA Rewritten Prompt): its spans are only known when the graph runs.
export function checkPromptNode(prompt, voices, speakerEncoder) {
  const linked = prompt === null;
  const text = linked ? "" : prompt.split(PLACEHOLDER).join("");
  const { spans, error } = parseSpeechSpans(text);
  const problems = error ? [error.message] : [];
  const last = Math.max(0, ...voices); // voices bind by slot: voice_3 alone still means three slots
  if (!linked && !error && last > spans.length) {
    problems.push(`${last} reference voice slot(s) in use (up to voice_${last}) but ${spans.length} speech span(s); ` +
      `voice_i speaks span i, so add a span per voice (e.g. '${EXAMPLE}') or disconnect voice_${last}`);
  }
  if (voices.length && !speakerEncoder) {
    problems.push("a reference voice is connected but no speaker encoder: connect a NAVA ReDimNet Loader to speaker_encoder");
  }
  return { text, spans, error, voices, problems, linked };
}

