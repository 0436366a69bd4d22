// The run page: state, why it waits and its ETA, the resolved config (the API has already
// redacted secrets), the event history with reasons, the log tail that follows while the run
// is not over (GET /runs/{id}/logs from the last offset), and Stop / Replay.

import { api } from "./api.js";
import { age, el, errorBox, eta, every, stateBadge, TERMINAL, waiting, when } from "./format.js";

const POLL_MS = 1000;
const LOG_KEEP = 200_000; // characters of log kept on the page: the tail is what matters

/** The waiting reason, how long it has held, and the events it came from ("" when none). */
function waitingDetail(run) {
  const reason = waiting(run);
  if (!reason) return "";
  const since = run.waiting.since ? ` (for ${age(run.waiting.since)})` : "";
  const events = (run.waiting.events || []).map((e) => el("li", {}, `${e.to_state}: ${e.reason}`));
  return el("div", { id: "run-waiting" }, `${reason}${since}`, events.length ? el("ul", { class: "backing" }, events) : null);
}

function facts(run) {
  const rows = [
    ["State", stateBadge(run.state)],
    ["Queue", el("a", { href: `#/runs?queue=${encodeURIComponent(run.queue)}` }, run.queue)],
    ["Priority", run.priority],
    ["Position in line", run.position ?? ""],
    ["Waiting", waitingDetail(run)],
    ["ETA", eta(run.eta)],
    ["Job", run.job ?? ""],
    ["Created", el("span", {}, when(run.created_at), ` (${age(run.created_at)} ago)`)],
    ["Started", when(run.started_at)],
    ["Finished", when(run.finished_at)],
    ["Exit code", run.exit_code ?? ""],
    ["Reason", run.reason],
  ];
  return el("dl", { class: "facts", id: "run-facts" },
    rows.filter(([, v]) => v !== "" && v !== null).flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, v)]));
}

function eventsTable(events) {
  return el("table", { id: "run-events" },
    el("caption", {}, "Event history"),
    el("thead", {}, el("tr", {}, ["At", "From", "To", "Reason"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, (events || []).map((e) =>
      el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.from_state ?? ""), el("td", {}, e.to_state), el("td", {}, e.reason)))),
  );
}

export function runPage(root, runId) {
  const heading = el("h1", {}, `Run ${runId}`);
  const message = el("p", { id: "run-message", role: "status", "aria-live": "polite" });
  const stop = el("button", { type: "button", id: "stop-run" }, "Stop");
  const replay = el("button", { type: "button", id: "replay-run" }, "Replay");
  const summary = el("div", { id: "run-summary" }, "Loading...");
  const config = el("pre", { id: "run-config", tabindex: 0, "aria-label": "Resolved config" });
  const events = el("div", { id: "run-events-body" });
  const log = el("pre", { id: "run-log", tabindex: 0, "aria-label": "Log tail", "aria-live": "off" });
  let offset = 0;
  let ended = false;

  async function act(button, path, done) {
    button.disabled = true;
    try {
      await api("POST", path);
      message.textContent = done;
      await refresh();
    } catch (error) {
      message.textContent = error.detail;
    }
  }
  stop.addEventListener("click", () => act(stop, `/runs/${encodeURIComponent(runId)}/stop`, "Stop requested."));
  replay.addEventListener("click", () => act(replay, `/runs/${encodeURIComponent(runId)}/replay`, "Run replayed: back in line."));

  root.replaceChildren(
    heading,
    el("div", { class: "actions" }, stop, replay),
    message,
    summary,
    el("div", { class: "columns" },
      el("section", { "aria-labelledby": "log-title" }, el("h2", { id: "log-title" }, "Log tail"), log),
      el("section", { "aria-labelledby": "config-title" }, el("h2", { id: "config-title" }, "Resolved config"), config),
    ),
    events,
  );

  async function readLog() {
    const path = `/runs/${encodeURIComponent(runId)}/logs?offset=${offset}`;
    const chunk = await api("GET", path);
    if (chunk.text) {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = (log.textContent + chunk.text).slice(-LOG_KEEP);
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
    offset = chunk.next_offset;
  }

  async function refresh() {
    const run = await api("GET", `/runs/${encodeURIComponent(runId)}`);
    if (run.name) heading.textContent = `Run ${run.name} (${run.id})`;
    summary.replaceChildren(facts(run));
    config.textContent = JSON.stringify(run.resolved, null, 2);
    events.replaceChildren(eventsTable(run.events));
    stop.disabled = TERMINAL.has(run.state);
    replay.disabled = run.state !== "dead_letter";
    await readLog();
    ended = TERMINAL.has(run.state);
  }

  let stopPolling = null;
  stopPolling = every(POLL_MS, async () => {
    try {
      await refresh();
      if (ended) await readLog(); // the last lines written before it ended
    } catch (error) {
      summary.replaceChildren(errorBox(error));
    }
  });
  return () => stopPolling();
}
