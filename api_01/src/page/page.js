// api_01's page: each button sends a real request to api_01 and adds a row
// for its answer at the top of the list. Every answer becomes a row, a
// failed one included: the page never hides an error. Values from the
// answer are put in with textContent, never as HTML.
"use strict";

const config = JSON.parse(document.getElementById("page-config").textContent);
const results = document.getElementById("results");
const empty = document.getElementById("empty");
const delay = document.getElementById("delay");

const scenarios = {
  "plain": () => ({ label: "Plain request", query: "" }),
  "fail-api_02": () => ({ label: "api_02 fails", query: "fail=api_02" }),
  "fail-api_03": () => ({ label: "api_03 fails", query: "fail=api_03" }),
  "slow-api_02": () => slow("api_02"),
  "slow-api_03": () => slow("api_03"),
  "hang": () => ({
    label: `api_03 hangs (${config.hangDelayMs} ms; callers give up after ${config.downstreamTimeoutMs} ms)`,
    query: `slow=api_03&delay_ms=${config.hangDelayMs}`,
  }),
};

// The delay goes to the service exactly as typed: an invalid one is the
// service's to refuse, and its 400 shows in the row.
function slow(service) {
  const typed = delay.value.trim();
  return {
    label: `${service} is slow (${typed === "" ? "no" : typed} ms)`,
    query: `slow=${service}&delay_ms=${encodeURIComponent(typed)}`,
  };
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(date) {
  return date.toTimeString().slice(0, 8);
}

// The row is added at the click, so a slow answer shows as pending.
function addRow(label) {
  const row = element("li", "row");
  row.dataset.state = "pending";
  row.dataset.outcome = "pending";
  const head = element("div", "row-head");
  const now = new Date();
  const time = element("time", "time", clock(now));
  time.dateTime = now.toISOString();
  head.append(time, element("span", "scenario", label),
    element("span", "status", "waiting"), element("span", "duration", ""));
  row.append(head, element("dl"));
  results.prepend(row);
  empty.hidden = true;
  return row;
}

function detail(row, name, className, value) {
  const list = row.querySelector("dl");
  const dd = element("dd", className);
  if (value instanceof Node) dd.append(value); else dd.textContent = value;
  list.append(element("dt", null, name), dd);
}

function listed(names) {
  return names.length ? names.join(", ") : "none";
}

// The answer's own link when it has one; otherwise one built from its id.
function traceLink(answer) {
  if (typeof answer.zipkin_url === "string" && /^https?:\/\//.test(answer.zipkin_url)) {
    return answer.zipkin_url;
  }
  if (typeof answer.trace_id === "string" && /^[0-9a-f]{16,32}$/.test(answer.trace_id)) {
    return `${config.zipkinUiUrl}/traces/${answer.trace_id}`;
  }
  return null;
}

function finish(row, outcome, status, started) {
  row.dataset.state = "done";
  row.dataset.outcome = outcome;
  row.dataset.status = status;
  row.querySelector(".status").textContent = status;
  row.querySelector(".duration").textContent = `${Math.round(performance.now() - started)} ms`;
}

function showAnswer(row, response, text, started) {
  let answer = null;
  try {
    answer = JSON.parse(text);
  } catch (_) {
    // Not JSON: shown as text below.
  }
  const failed = answer && Array.isArray(answer.failed) ? answer.failed.map(String) : [];
  const called = answer && answer.downstream && typeof answer.downstream === "object"
    ? Object.keys(answer.downstream) : [];
  detail(row, "Answered", "answered", listed(called.filter((name) => !failed.includes(name))));
  detail(row, "Failed", "failed", listed(failed));
  if (!response.ok) {
    const error = answer && typeof answer.error === "string" ? answer.error : text.slice(0, 500);
    detail(row, "Error", "error", error || response.statusText);
    if (answer && typeof answer.usage === "string") detail(row, "Usage", "usage", answer.usage);
  }
  const link = answer && traceLink(answer);
  if (link) {
    const anchor = element("a", null, answer.trace_id || link);
    anchor.href = link;
    anchor.target = "_blank";
    anchor.rel = "noopener";
    detail(row, "Trace", "trace", anchor);
  } else {
    detail(row, "Trace", "trace", element("span", null, "none in the answer"));
  }
  finish(row, response.ok ? "ok" : "error", String(response.status), started);
}

async function run(scenario) {
  const { label, query } = scenarios[scenario]();
  const row = addRow(label);
  const started = performance.now();
  try {
    const response = await fetch(query ? `/?${query}` : "/", {
      headers: { "Accept": "application/json" },
      cache: "no-store",
    });
    showAnswer(row, response, await response.text(), started);
  } catch (error) {
    detail(row, "Error", "error", `the request failed: ${error}`);
    finish(row, "error", "network error", started);
  }
}

for (const button of document.querySelectorAll("button[data-scenario]")) {
  button.addEventListener("click", () => run(button.dataset.scenario));
}
if (config.hangDelayMs === null) {
  document.querySelector('button[data-scenario="hang"]').disabled = true;
}

// Lens opens the dependency graph at once only for a given time range:
// the last hour, up to the moment the link is followed.
const dependencyLink = document.getElementById("dependency-link");
function freshDependencyLink() {
  const now = Date.now();
  dependencyLink.href = `${config.zipkinUiUrl}/dependency?startTime=${now - 3600000}&endTime=${now}`;
}
for (const event of ["focus", "mouseenter", "click", "auxclick", "contextmenu"]) {
  dependencyLink.addEventListener(event, freshDependencyLink);
}
freshDependencyLink();
