// The runs page: filter by queue and state; each run with priority, state, position in line,
// why it waits and when it should start (when the API says), age and exit code. The table is
// refreshed from GET /runs every 2 s while the tab is visible, without reloading the page.

import { api } from "./api.js";
import { age, el, errorBox, eta, every, stateBadge, STATES, waiting } from "./format.js";

const POLL_MS = 2000;
const COLUMNS = ["Run", "Queue", "Priority", "State", "Position", "Waiting", "ETA", "Age", "Exit code"];

/** Runs in line first, by queue and position (the order they will start), then the rest newest first. */
function ordered(runs) {
  const inLine = runs.filter((r) => r.position !== null && r.position !== undefined);
  const rest = runs.filter((r) => r.position === null || r.position === undefined);
  inLine.sort((a, b) => a.queue.localeCompare(b.queue) || a.position - b.position);
  return [...inLine, ...rest];
}

function runRow(run, now) {
  const label = run.name ? `${run.name} (${run.id.slice(0, 8)})` : run.id;
  return el("tr", { "data-run": run.id, "data-state": run.state },
    el("th", { scope: "row" }, el("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, label)),
    el("td", {}, run.queue),
    el("td", {}, run.priority),
    el("td", {}, stateBadge(run.state)),
    el("td", { class: "num position" }, run.position ?? ""),
    el("td", { class: "waiting" }, waiting(run)),
    el("td", { class: "eta" }, eta(run.eta, now)),
    el("td", { class: "num" }, age(run.created_at, now)),
    el("td", { class: "num" }, run.exit_code ?? ""),
  );
}

function runsTable(runs) {
  const now = Date.now();
  return el("table", { id: "runs-table" },
    el("caption", {}, `${runs.length} run${runs.length === 1 ? "" : "s"}; queued runs first, in the order they start`),
    el("thead", {}, el("tr", {}, COLUMNS.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, runs.length ? ordered(runs).map((r) => runRow(r, now))
      : el("tr", {}, el("td", { colspan: COLUMNS.length }, "No runs match."))),
  );
}

function select(id, label, options, chosen) {
  return el("div", { class: "field inline" },
    el("label", { for: id }, label),
    el("select", { id, name: id },
      el("option", { value: "" }, "all"),
      options.map((o) => el("option", { value: o, selected: o === chosen }, o))),
  );
}

function query(params) {
  const search = new URLSearchParams({ limit: "1000" });
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  return search.toString();
}

export function runsPage(root, params) {
  const filters = { queue: params.get("queue") || "", state: params.get("state") || "" };
  const body = el("div", { id: "runs-body" }, "Loading...");
  const status = el("p", { id: "runs-status", class: "hint", "aria-live": "polite" });
  const form = el("form", { id: "run-filters", class: "filters", "aria-label": "Filter runs" },
    select("filter-queue", "Queue", filters.queue ? [filters.queue] : [], filters.queue),
    select("filter-state", "State", STATES, filters.state),
  );
  form.addEventListener("change", () => {
    const next = new URLSearchParams();
    for (const key of ["queue", "state"]) {
      const value = form.elements[`filter-${key}`].value;
      if (value) next.set(key, value);
    }
    location.hash = `#/runs?${next}`;
  });
  root.replaceChildren(el("h1", {}, "Runs"), form, status, body);

  api("GET", "/queues").then(({ queues }) => {
    const choice = form.elements["filter-queue"];
    const names = queues.map((q) => q.name).filter((n) => n !== filters.queue);
    choice.append(...names.map((n) => el("option", { value: n }, n)));
  }).catch(() => {});

  let lastCount = null;
  return every(POLL_MS, async () => {
    try {
      const { runs } = await api("GET", `/runs?${query(filters)}`);
      const focused = document.activeElement?.closest?.("#runs-table tr")?.dataset.run;
      body.replaceChildren(runsTable(runs));
      if (focused) body.querySelector(`tr[data-run="${CSS.escape(focused)}"] a`)?.focus();
      if (runs.length !== lastCount) status.textContent = `${runs.length} runs shown.`;
      lastCount = runs.length;
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
  });
}
