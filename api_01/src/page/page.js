// api_01's page: each button sends a real request to api_01 and adds a row
// for its answer at the top of the list. Every answer becomes a row, a
// failed one included: the page never hides an error. Values from the
// answer are put in with textContent, never as HTML.
//
// Each click is the root of its trace: the page picks the trace and span
// ids, sends them as B3 headers (with no sampling decision: api_01's
// sampler decides, and by B3's join its SERVER span takes the page's span
// id), and, when the answer shows the trace was recorded, reports its own
// CLIENT span (service "browser") through api_01's same-origin relay. A
// report that cannot be sent is counted on the page, never an error.
"use strict";

const config = JSON.parse(document.getElementById("page-config").textContent);
const results = document.getElementById("results");
const empty = document.getElementById("empty");
const delay = document.getElementById("delay");
const reports = document.getElementById("reports");
const reportCounts = { sent: 0, unsent: 0 };

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

function finish(row, outcome, status, started, ended) {
  row.dataset.state = "done";
  row.dataset.outcome = outcome;
  row.dataset.status = status;
  row.querySelector(".status").textContent = status;
  row.querySelector(".duration").textContent = `${Math.round(ended - started)} ms`;
}

// Random ids as lowercase hex, never all zeros (Zipkin's "no id").
function randomHex(bytes) {
  const values = new Uint8Array(bytes);
  do {
    crypto.getRandomValues(values);
  } while (values.every((value) => value === 0));
  return Array.from(values, (value) => value.toString(16).padStart(2, "0")).join("");
}

// Epoch microseconds of a performance.now() reading: rounded down for a
// start and up for an end, so the span covers what api_01 measured.
function epochMicros(now, round) {
  return round((performance.timeOrigin + now) * 1000);
}

// The click's span, in Zipkin's v2 JSON: only what the relay accepts.
function clickSpan(ids, scenario, query, started, ended, status) {
  const tags = { "http.request.method": "GET", "url.path": "/" };
  if (query) tags["url.query"] = query;
  tags["http.response.status_code"] = String(status);
  if (status >= 500) tags.error = String(status);
  const timestamp = epochMicros(started, Math.floor);
  return {
    traceId: ids.traceId,
    id: ids.spanId,
    kind: "CLIENT",
    name: scenario,
    timestamp,
    duration: Math.max(1, epochMicros(ended, Math.ceil) - timestamp),
    localEndpoint: { serviceName: "browser" },
    remoteEndpoint: { serviceName: config.serviceName },
    tags,
  };
}

function showReports() {
  reports.dataset.sent = reportCounts.sent;
  reports.dataset.unsent = reportCounts.unsent;
  reports.textContent = `The page's own spans: ${reportCounts.sent} sent to Zipkin, ` +
    `${reportCounts.unsent} not sent.`;
}

// Sends the click's span through api_01's relay; says in the row, and in
// the counts, whether it went.
async function report(row, span) {
  let outcome;
  try {
    const response = await fetch(config.relayPath, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify([span]),
      cache: "no-store",
    });
    if (response.ok) {
      outcome = "sent";
    } else {
      let reason = response.statusText;
      try {
        reason = (await response.json()).error || reason;
      } catch (_) {
        // No JSON: the status says it.
      }
      outcome = `not sent: ${response.status} ${reason}`;
    }
  } catch (error) {
    outcome = `not sent: ${error}`;
  }
  const sent = outcome === "sent";
  reportCounts[sent ? "sent" : "unsent"] += 1;
  showReports();
  row.dataset.report = sent ? "sent" : "unsent";
  detail(row, "Page span", "report", outcome);
}

// The parsed answer, or null when it is not JSON.
function showAnswer(row, response, text, started, ended) {
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
  finish(row, response.ok ? "ok" : "error", String(response.status), started, ended);
  return answer;
}

async function run(scenario) {
  const { label, query } = scenarios[scenario]();
  const row = addRow(label);
  const ids = { traceId: randomHex(16), spanId: randomHex(8) };
  const started = performance.now();
  let response, text;
  try {
    response = await fetch(query ? `/?${query}` : "/", {
      headers: {
        "Accept": "application/json",
        "X-B3-TraceId": ids.traceId,
        "X-B3-SpanId": ids.spanId,
      },
      cache: "no-store",
    });
    text = await response.text();
  } catch (error) {
    detail(row, "Error", "error", `the request failed: ${error}`);
    // No answer, so nothing says api_01 recorded the trace: not reported.
    row.dataset.report = "none";
    finish(row, "error", "network error", started, performance.now());
    return;
  }
  const ended = performance.now();
  const answer = showAnswer(row, response, text, started, ended);
  // api_01 links a trace only when it recorded it; the page reports its
  // span only then, into that same trace, so it never overrides api_01's
  // sampler nor leaves a trace of one browser span.
  if (answer && typeof answer.zipkin_url === "string" && answer.trace_id === ids.traceId) {
    await report(row, clickSpan(ids, scenario, query, started, ended, response.status));
  } else {
    row.dataset.report = "none";
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
showReports();
