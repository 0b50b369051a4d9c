// genlab playground: talks to this server's OpenAI-compatible API (/v1), streams the answer, and
// tints every generated piece of text by the probability the model gave it, so you can see where
// the model was sure and where it guessed. Hover a piece to see the alternatives it considered.
// Plain script, no build step, no third-party code: everything here is served by genlab itself.
"use strict";

const $ = (id) => document.getElementById(id);
const session = { controller: null, history: [] };

// ---- settings kept between visits ------------------------------------------------------------
const SAVED = ["max-tokens", "temperature", "top-p", "top-k", "seed", "stop", "top-logprobs", "json-schema", "api-key"];

function restoreSettings() {
  for (const id of SAVED) {
    const value = localStorage.getItem("genlab." + id);
    if (value !== null) $(id).value = value;
  }
  for (const id of ["temperature", "top-p"]) $(id + "-value").textContent = $(id).value;
}

function saveSettings() {
  for (const id of SAVED) localStorage.setItem("genlab." + id, $(id).value);
}

// ---- talking to the API ----------------------------------------------------------------------
function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return response.status + " " + response.statusText;
}

async function loadModels() {
  const select = $("model");
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) {
    if (response.status === 401) $("key-box").open = true;
    throw new Error("cannot list models: " + (await errorMessage(response)));
  }
  const body = await response.json();
  const previous = localStorage.getItem("genlab.model");
  select.textContent = "";
  for (const model of body.data) {
    const info = model.genlab || {};
    const option = document.createElement("option");
    const seq2seq = info.kind === "seq2seq";
    option.value = model.id;
    option.textContent = model.id + (info.family ? " \u00b7 " + info.family : "") +
      (info.tokenizer ? " \u00b7 " + info.tokenizer + " tokens" : "") + (seq2seq ? " (translation only)" : "");
    option.disabled = seq2seq;
    select.append(option);
  }
  if (previous && [...select.options].some((o) => o.value === previous && !o.disabled)) select.value = previous;
}

function parseStops(text) {
  if (!text.trim()) return undefined;
  const stops = text.split(",").map((s) => s.replace(/\\n/g, "\n").replace(/\\t/g, "\t")).filter((s) => s.length);
  return stops.slice(0, 4);
}

function samplingFields() {
  const body = {
    model: $("model").value,
    stream: true,
    max_tokens: parseInt($("max-tokens").value || "0", 10),
    temperature: parseFloat($("temperature").value),
    top_p: parseFloat($("top-p").value),
  };
  const topK = parseInt($("top-k").value || "0", 10);
  if (topK > 0) body.top_k = topK;
  if ($("seed").value.trim() !== "") body.seed = parseInt($("seed").value, 10);
  const stop = parseStops($("stop").value);
  if (stop) body.stop = stop;
  const format = responseFormat();
  if (format) body.response_format = format;
  return body;
}

// The "Output" control as OpenAI's response_format (structured outputs); throws on a schema that is not JSON.
function responseFormat() {
  const kind = $("response-format").value;
  if (kind === "json_object") return { type: "json_object" };
  if (kind !== "json_schema") return undefined;
  let schema;
  try {
    schema = JSON.parse($("json-schema").value);
  } catch (err) {
    throw new Error("the JSON schema box does not hold valid JSON: " + err.message);
  }
  return { type: "json_schema", json_schema: { name: "playground", schema, strict: true } };
}

function showFormat() {
  $("json-schema-box").hidden = $("response-format").value !== "json_schema";
}

// Server-sent events over fetch: "data: {json}" blocks separated by a blank line, "data: [DONE]" last.
async function streamEvents(path, body, signal, onChunk) {
  const response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
  if (!response.ok) throw new Error(await errorMessage(response));
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || "generation failed");
      onChunk(chunk);
    }
  }
}

// ---- tokens and their probabilities ----------------------------------------------------------
// Both API shapes become [{token, logprob, top: [{token, logprob}]}].
function completionTokens(logprobs) {
  if (!logprobs) return [];
  return logprobs.tokens.map((token, i) => ({
    token,
    logprob: logprobs.token_logprobs[i],
    top: Object.entries(logprobs.top_logprobs[i] || {}).map(([t, lp]) => ({ token: t, logprob: lp })),
  }));
}

function chatTokens(logprobs) {
  if (!logprobs || !logprobs.content) return [];
  return logprobs.content.map((t) => ({ token: t.token, logprob: t.logprob, top: t.top_logprobs || [] }));
}

function visible(text) {
  return text.replace(/ /g, "\u2423").replace(/\n/g, "\u23ce").replace(/\t/g, "\u21e5") || "\u2205";
}

function percent(p) {
  return p >= 0.995 ? "100%" : p >= 0.1 ? (100 * p).toFixed(0) + "%" : (100 * p).toPrecision(2) + "%";
}

class Stats {
  constructor() { this.tokens = 0; this.started = performance.now(); this.first = null; }
  add(n) {
    if (n && this.first === null) this.first = performance.now();
    this.tokens += n;
  }
  text() {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? (this.tokens / seconds).toFixed(1) : "0";
    const ttft = this.first === null ? "" : " \u00b7 first token " + Math.round(this.first - this.started) + " ms";
    return this.tokens + " tokens \u00b7 " + rate + " tokens/s" + ttft;
  }
}

// One span per streamed piece of text; its tint is the probability of the tokens behind it.
function appendPiece(container, text, tokens, finishReason) {
  if (!text && !(tokens.length && finishReason === "stop")) return;
  const span = document.createElement("span");
  span.className = "tok";
  if (text) span.textContent = text;
  else { span.textContent = "<eos>"; span.classList.add("end"); }
  if (tokens.length) {
    const logprob = tokens.reduce((sum, t) => sum + t.logprob, 0);
    const p = Math.exp(logprob);
    span.dataset.prob = p.toFixed(4);
    span.style.setProperty("--p", String(p));
    span.tokens = tokens;
  } else {
    span.classList.add("plain");
  }
  container.append(span);
}

function showTip(span) {
  const tip = $("tip");
  tip.textContent = "";
  for (const t of span.tokens) {
    const head = document.createElement("div");
    head.className = "tip-head";
    head.textContent = visible(t.token) + "  " + percent(Math.exp(t.logprob));
    tip.append(head);
    const alternatives = [...t.top].sort((a, b) => b.logprob - a.logprob);
    for (const alt of alternatives) {
      const row = document.createElement("div");
      row.className = "tip-row" + (alt.token === t.token ? " chosen" : "");
      const name = document.createElement("span");
      name.className = "tip-token";
      name.textContent = visible(alt.token);
      const bar = document.createElement("span");
      bar.className = "tip-bar";
      bar.style.setProperty("--w", String(Math.exp(alt.logprob)));
      const value = document.createElement("span");
      value.className = "tip-p";
      value.textContent = percent(Math.exp(alt.logprob));
      row.append(name, bar, value);
      tip.append(row);
    }
  }
  tip.hidden = false;
  const box = span.getBoundingClientRect();
  const left = Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
  tip.style.left = Math.max(8, left) + "px";
  tip.style.top = window.scrollY + box.bottom + 6 + "px";
}

// ---- the two modes ---------------------------------------------------------------------------
function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function setState(name, message) {
  document.body.dataset.state = name;
  $("status").textContent = message;
  $("status").classList.toggle("error", name === "error");
  $("generate").disabled = name === "generating";
  $("stop-button").disabled = name !== "generating";
}

async function generate() {
  if (session.controller) return;
  saveSettings();
  localStorage.setItem("genlab.model", $("model").value);
  let body;
  try { body = samplingFields(); } catch (err) { setState("error", err.message); return; }
  const alternatives = Math.max(0, Math.min(20, parseInt($("top-logprobs").value || "0", 10)));
  const stats = new Stats();
  let target;
  let path;
  let reply = "";
  let read;
  if (mode() === "complete") {
    const prompt = $("prompt").value;
    if (!prompt) { setState("error", "type a prompt first"); return; }
    path = "/v1/completions";
    Object.assign(body, { prompt, logprobs: alternatives });
    const output = $("output");
    output.textContent = "";
    const shown = document.createElement("span");
    shown.className = "prompt-text";
    shown.textContent = prompt;
    output.append(shown);
    target = output;
    read = (choice) => ({ text: choice.text || "", tokens: completionTokens(choice.logprobs) });
  } else {
    const message = $("message").value.trim();
    if (!message) { setState("error", "type a message first"); return; }
    path = "/v1/chat/completions";
    session.history.push({ role: "user", content: message });
    const messages = chatMessages(session.history);
    Object.assign(body, { messages, logprobs: true, top_logprobs: alternatives });
    addBubble("user", message);
    target = addBubble("assistant", "");
    $("message").value = "";
    read = (choice) => ({ text: (choice.delta && choice.delta.content) || "", tokens: chatTokens(choice.logprobs) });
  }
  const controller = new AbortController();
  session.controller = controller;
  setState("generating", "generating\u2026");
  let finish = null;
  try {
    await streamEvents(path, body, controller.signal, (chunk) => {
      for (const choice of chunk.choices || []) {
        const { text, tokens } = read(choice);
        stats.add(tokens.length);
        appendPiece(target, text, tokens, choice.finish_reason);
        reply += text;
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      $("status").textContent = "generating\u2026 " + stats.text();
    });
    target.dataset.finish = finish || "";
    setState("done", "done (" + (finish || "?") + "): " + stats.text());
  } catch (err) {
    if (err.name === "AbortError") setState("done", "stopped: " + stats.text());
    else setState("error", String(err.message || err));
  } finally {
    session.controller = null;
    if (mode() === "chat" && path === "/v1/chat/completions") {
      const asked = chatMessages(session.history);
      session.history.push({ role: "assistant", content: reply });
      if (reply) addRating(target, asked, reply);
    }
  }
}

// ---- feedback: 👍/👎 on an answer, or a pick between two answers (kept in RUN/feedback.jsonl) --------
function chatMessages(history) {
  const system = $("system").value.trim();
  return (system ? [{ role: "system", content: system }] : []).concat(history);
}

async function sendFeedback(body) {
  const response = await fetch("/v1/feedback", { method: "POST", headers: headers(),
    body: JSON.stringify(Object.assign({ model: $("model").value }, body)) });
  if (!response.ok) throw new Error("feedback not saved: " + (await errorMessage(response)));
  return response.json();
}

function addRating(bubbleText, prompt, answer) {
  const bar = document.createElement("div");
  bar.className = "rating";
  for (const [rating, label] of [["up", "\u{1F44D} good"], ["down", "\u{1F44E} bad"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "rate-" + rating;
    button.textContent = label;
    button.title = rating === "up" ? "a good answer" : "a bad answer";
    button.addEventListener("click", async () => {
      try {
        await sendFeedback({ prompt, completion: answer, rating });
        bar.dataset.saved = rating;
        for (const b of bar.querySelectorAll("button")) b.disabled = true;
        setState("done", "feedback saved (" + rating + ")");
      } catch (err) { setState("error", String(err.message || err)); }
    });
    bar.append(button);
  }
  bubbleText.parentElement.append(bar);
}

async function compareTwo() {
  if (session.controller) return;
  const message = $("message").value.trim();
  if (!message) { setState("error", "type a message first"); return; }
  const history = session.history.concat([{ role: "user", content: message }]);
  let body;
  try {
    body = Object.assign(samplingFields(), { messages: chatMessages(history), n: 2, stream: false });
  } catch (err) { setState("error", err.message); return; }
  if (!body.temperature) body.temperature = 1.0;  // two greedy answers would be the same
  setState("generating", "answering twice\u2026");
  try {
    const response = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!response.ok) throw new Error(await errorMessage(response));
    const out = await response.json();
    const [a, b] = out.choices.map((c) => c.message.content);
    $("pick-a").textContent = a;
    $("pick-b").textContent = b;
    $("pick").hidden = false;
    setState("done", "pick the better answer");
    const choose = async (better, worse) => {
      $("pick").hidden = true;
      try {
        if (better !== worse) await sendFeedback({ prompt: chatMessages(history), chosen: better, rejected: worse });
        $("message").value = "";
        addBubble("user", message);
        addBubble("assistant", better);
        session.history = history.concat([{ role: "assistant", content: better }]);
        setState("done", better === worse ? "both answers were the same" : "feedback saved (pick)");
      } catch (err) { setState("error", String(err.message || err)); }
    };
    $("pick-a-button").onclick = () => choose(a, b);
    $("pick-b-button").onclick = () => choose(b, a);
  } catch (err) { setState("error", String(err.message || err)); }
}

function addBubble(role, text) {
  const bubble = document.createElement("div");
  bubble.className = "bubble " + role;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = role === "user" ? "you" : "model";
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  bubble.append(who, body);
  $("transcript").append(bubble);
  return body;
}

function clearAll() {
  if (session.controller) session.controller.abort();
  session.history = [];
  $("output").textContent = "";
  $("transcript").textContent = "";
  setState("idle", "");
}

function showMode() {
  const chat = mode() === "chat";
  $("chat-pane").hidden = !chat;
  $("compare").hidden = !chat;
  $("complete-pane").hidden = chat;
  $("output").hidden = chat;
}

// ---- wiring ----------------------------------------------------------------------------------
function init() {
  restoreSettings();
  for (const swatch of document.querySelectorAll(".swatch")) swatch.style.setProperty("--p", swatch.dataset.p);
  for (const id of ["temperature", "top-p"]) {
    $(id).addEventListener("input", () => { $(id + "-value").textContent = $(id).value; });
  }
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", showMode);
  $("response-format").addEventListener("change", showFormat);
  $("generate").addEventListener("click", generate);
  $("stop-button").addEventListener("click", () => session.controller && session.controller.abort());
  $("clear").addEventListener("click", clearAll);
  $("compare").addEventListener("click", compareTwo);
  $("api-key").addEventListener("change", () => { saveSettings(); refreshModels(); });
  $("key-form").addEventListener("submit", (e) => { e.preventDefault(); saveSettings(); refreshModels(); });
  for (const box of ["prompt", "message"]) {
    $(box).addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey || (box === "message" && !e.shiftKey))) {
        e.preventDefault();
        generate();
      }
    });
  }
  document.addEventListener("mouseover", (e) => {
    const span = e.target.closest && e.target.closest(".tok");
    if (span && span.tokens) showTip(span);
    else if (!(e.target.closest && e.target.closest("#tip"))) $("tip").hidden = true;
  });
  showMode();
  showFormat();
  setState("idle", "");
  refreshModels();
}

async function refreshModels() {
  try {
    await loadModels();
    document.body.dataset.models = "ready";
  } catch (err) {
    setState("error", err.message);
  }
}

document.addEventListener("DOMContentLoaded", init);
