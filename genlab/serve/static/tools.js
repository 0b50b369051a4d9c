// genlab playground, tools view (chat mode): the functions the model may call, how their calls are
// shown, and the results the person types (or computes) for them. app.js sends what this file builds.
// Plain script loaded before app.js; no eval and no Function: the CSP forbids them, and the calculator
// below parses arithmetic itself.
"use strict";

const CALCULATOR_PRESET = {
  name: "calculator",
  description: "Arithmetic.",
  parameters: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] },
};

// A one-line text box with its class, placeholder and accessible name.
function textInput(className, placeholder, label) {
  const input = document.createElement("input");
  input.type = "text";
  input.className = className;
  input.placeholder = placeholder;
  input.setAttribute("aria-label", label);
  return input;
}

// ---- the Tools panel -------------------------------------------------------------------------
function addToolEditor(tool) {
  const editor = document.createElement("div");
  editor.className = "tool-editor";
  const name = textInput("tool-name", "name, e.g. calculator", "function name");
  const description = textInput("tool-description", "description (optional)", "function description");
  const parameters = document.createElement("textarea");
  parameters.className = "tool-parameters";
  parameters.rows = 4;
  parameters.spellcheck = false;
  parameters.placeholder = '{"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}';
  parameters.setAttribute("aria-label", "parameters (JSON schema)");
  const problem = document.createElement("p");
  problem.className = "tool-error";
  problem.setAttribute("role", "alert");
  problem.hidden = true;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "tool-remove";
  remove.textContent = "Remove";
  if (tool) {
    name.value = tool.name;
    description.value = tool.description || "";
    parameters.value = JSON.stringify(tool.parameters, null, 2);
  }
  name.addEventListener("input", refreshToolChoice);
  parameters.addEventListener("input", () => checkParameters(editor));
  remove.addEventListener("click", () => { editor.remove(); refreshToolChoice(); });
  editor.append(name, description, parameters, problem, remove);
  document.getElementById("tool-list").append(editor);
  checkParameters(editor);
  refreshToolChoice();
  return editor;
}

// The parameters box as an object, or the reason it is not one (shown under the box as it is typed).
function parseParameters(text) {
  if (!text.trim()) return { value: { type: "object", properties: {} } };
  let value;
  try { value = JSON.parse(text); } catch (err) { return { problem: "not valid JSON: " + err.message }; }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { problem: 'must be a JSON object (a schema such as {"type": "object", ...})' };
  }
  return { value };
}

function checkParameters(editor) {
  const box = editor.querySelector(".tool-parameters");
  const shown = editor.querySelector(".tool-error");
  const { problem } = parseParameters(box.value);
  shown.textContent = problem ? "Parameters: " + problem : "";
  shown.hidden = !problem;
  box.setAttribute("aria-invalid", problem ? "true" : "false");
  return problem;
}

function toolNames() {
  return [...document.querySelectorAll("#tool-list .tool-name")].map((i) => i.value.trim()).filter((n) => n);
}

// The tool_choice list: the three words, then one entry per named function; keeps the pick when it still exists.
function refreshToolChoice() {
  const select = document.getElementById("tool-choice");
  const picked = select.value;
  for (const option of [...select.options]) if (option.dataset.function) option.remove();
  for (const name of new Set(toolNames())) {
    const option = document.createElement("option");
    option.value = "function:" + name;
    option.dataset.function = name;
    option.textContent = "call " + name;
    select.append(option);
  }
  select.value = [...select.options].some((o) => o.value === picked) ? picked : "auto";
}

// What a chat request carries: {tools, tool_choice}, or {} with no tool defined; throws naming the tool at fault.
// ``followUp``: the request after tool results, where a forced call ("required", a named function) would only
// make the model call again, so it goes back to "auto" (as agent loops do).
function toolFields(followUp) {
  const editors = [...document.querySelectorAll("#tool-list .tool-editor")];
  if (!editors.length) return {};
  const tools = editors.map((editor, k) => {
    const name = editor.querySelector(".tool-name").value.trim();
    const label = name ? "tool " + JSON.stringify(name) : "tool " + (k + 1);
    if (!name) throw new Error(label + " needs a name");
    const problem = checkParameters(editor);
    if (problem) throw new Error(label + ": parameters " + problem);
    const fn = { name, parameters: parseParameters(editor.querySelector(".tool-parameters").value).value };
    const description = editor.querySelector(".tool-description").value.trim();
    if (description) fn.description = description;
    return { type: "function", function: fn };
  });
  const choice = document.getElementById("tool-choice").value;
  let toolChoice = choice;
  if (choice.startsWith("function:")) toolChoice = { type: "function", function: { name: choice.slice(9) } };
  if (followUp && choice !== "none") toolChoice = "auto";
  return { tools, tool_choice: toolChoice };
}

// ---- tool calls in the transcript ------------------------------------------------------------
// Streamed delta.tool_calls pieces add up, by index, to whole calls ({id, type, function: {name, arguments}}).
function mergeToolCallPieces(calls, pieces) {
  for (const piece of pieces) {
    const call = calls[piece.index] || (calls[piece.index] = { id: "", type: "function",
      function: { name: "", arguments: "" } });
    if (piece.id) call.id = piece.id;
    if (piece.function && piece.function.name) call.function.name += piece.function.name;
    if (piece.function && piece.function.arguments) call.function.arguments += piece.function.arguments;
  }
  return calls;
}

function prettyArguments(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
}

// The one string argument of a call when it is arithmetic (the calculator's "expression"), else null.
function arithmeticArgument(text) {
  let args;
  try { args = JSON.parse(text); } catch (_) { return null; }
  if (!args || typeof args !== "object") return null;
  const strings = Object.values(args).filter((v) => typeof v === "string");
  if (strings.length !== 1 || !/^[\d+\-*/() ]+$/.test(strings[0]) || !/\d/.test(strings[0])) return null;
  return strings[0];
}

// One card per call, updated while the call streams (``card.update(call)``).
function addCallCard(container, call) {
  const card = document.createElement("div");
  card.className = "call-card";
  const head = document.createElement("div");
  head.className = "call-head";
  const name = document.createElement("span");
  name.className = "call-name";
  const id = document.createElement("span");
  id.className = "call-id";
  head.append("calls ", name, id);
  const args = document.createElement("pre");
  args.className = "call-args";
  card.append(head, args);
  card.update = (c) => {
    name.textContent = c.function.name;
    id.textContent = c.id;
    card.dataset.callId = c.id;
    args.textContent = prettyArguments(c.function.arguments);
  };
  card.update(call);
  container.append(card);
  return card;
}

// Under the finished calls: a result box per call (and "compute" for arithmetic), and one button that sends them.
function offerResults(cards, calls, onSend) {
  const inputs = calls.map((call, k) => {
    const row = document.createElement("div");
    row.className = "call-result";
    const input = textInput("tool-result", "the tool's result", "result of " + call.function.name + " (" + call.id + ")");
    row.append(input);
    const expression = arithmeticArgument(call.function.arguments);
    if (expression !== null) {
      const compute = document.createElement("button");
      compute.type = "button";
      compute.className = "compute";
      compute.textContent = "compute";
      compute.title = "work out " + expression + " here (+ - * / and brackets)";
      compute.addEventListener("click", () => {
        try { input.value = formatNumber(evaluateArithmetic(expression)); } catch (err) { input.value = "error: " + err.message; }
      });
      row.append(compute);
    }
    cards[k].append(row);
    return input;
  });
  const send = document.createElement("button");
  send.type = "button";
  send.className = "send-results";
  send.textContent = calls.length > 1 ? "Send results" : "Send result";
  send.addEventListener("click", () => {
    const empty = inputs.findIndex((i) => !i.value.trim());
    if (empty >= 0) { setState("error", "type a result for " + calls[empty].function.name + " first"); return; }
    if (!onSend(calls.map((call, k) => ({ role: "tool", tool_call_id: call.id, content: inputs[k].value })))) return;
    for (const input of inputs) input.disabled = true;
    for (const button of cards[0].parentElement.querySelectorAll(".compute, .send-results")) button.disabled = true;
  });
  cards[cards.length - 1].after(send);
}

// ---- a calculator without eval: digits, + - * / ( ) and spaces ---------------------------------
// expression := term (("+" | "-") term)* ; term := factor (("*" | "/") factor)* ;
// factor := ("+" | "-") factor | digits | "(" expression ")"
function evaluateArithmetic(text) {
  if (!/^[\d+\-*/() ]*$/.test(text)) throw new Error("only digits, + - * / ( ) and spaces");
  const tokens = text.match(/\d+|[+\-*/()]/g) || [];
  let at = 0;
  let depth = 0;
  const peek = () => tokens[at];
  const expression = () => {
    let value = term();
    while (peek() === "+" || peek() === "-") value = tokens[at++] === "+" ? value + term() : value - term();
    return value;
  };
  const term = () => {
    let value = factor();
    while (peek() === "*" || peek() === "/") {
      if (tokens[at++] === "*") { value *= factor(); continue; }
      const divisor = factor();
      if (divisor === 0) throw new Error("division by zero");
      value /= divisor;
    }
    return value;
  };
  const factor = () => {
    const token = tokens[at++];
    if (token === undefined) throw new Error("the expression ends too early");
    if (token === "+") return factor();
    if (token === "-") return -factor();
    if (token === "(") {
      if (++depth > 100) throw new Error("too many brackets");
      const value = expression();
      if (tokens[at++] !== ")") throw new Error("a ( is not closed");
      depth--;
      return value;
    }
    if (/^\d+$/.test(token)) return Number(token);
    throw new Error("unexpected " + token);
  };
  const value = expression();
  if (at < tokens.length) throw new Error("unexpected " + tokens[at]);
  return value;
}

function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : String(parseFloat(value.toPrecision(12)));
}
