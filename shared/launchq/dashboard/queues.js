// The queues page: every queue with its resource, max_jobs and runs by state, and a form to
// create one whose config is sent as the text typed (POST /queues parses JSON or YAML itself,
// so the page ships no parser) and whose server-side errors appear next to their field.

import { api } from "./api.js";
import { el, errorBox, STATES } from "./format.js";

const FIELDS = ["name", "resource", "max_jobs", "config"];

function countsByQueue(runs) {
  const counts = {};
  for (const run of runs) {
    const queue = (counts[run.queue] ||= {});
    queue[run.state] = (queue[run.state] || 0) + 1;
  }
  return counts;
}

function countCell(counts) {
  const parts = STATES.filter((s) => counts && counts[s]).map((s) => `${s} ${counts[s]}`);
  return parts.length ? parts.join(", ") : "no runs";
}

function queueTable(queues, counts) {
  const head = el("tr", {}, ["Queue", "Resource", "max_jobs", "Queued", "Active", "Runs by state"].map(
    (h) => el("th", { scope: "col" }, h),
  ));
  const rows = queues.map((q) =>
    el("tr", {},
      el("th", { scope: "row" }, el("a", { href: `#/runs?queue=${encodeURIComponent(q.name)}` }, q.name)),
      el("td", {}, q.resource),
      el("td", { class: "num" }, q.max_jobs === -1 ? "unlimited" : q.max_jobs),
      el("td", { class: "num" }, q.queued),
      el("td", { class: "num" }, q.active),
      el("td", {}, countCell(counts[q.name])),
    ),
  );
  return el("table", { id: "queues-table" },
    el("caption", {}, "Queues (runs by state counts the newest 1000 runs)"),
    el("thead", {}, head),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 6 }, "No queues yet."))),
  );
}

function field(name, label, control, hint) {
  const error = el("p", { id: `${name}-error`, class: "field-error" });
  control.id = `queue-${name}`;
  control.name = name;
  control.setAttribute("aria-describedby", hint ? `${name}-hint ${name}-error` : `${name}-error`);
  return el("div", { class: "field" },
    el("label", { for: control.id }, label),
    hint ? el("p", { id: `${name}-hint`, class: "hint" }, hint) : null,
    control,
    error,
  );
}

function clearErrors(form) {
  for (const name of FIELDS) {
    form.querySelector(`#${name}-error`).textContent = "";
    form.elements[name].removeAttribute("aria-invalid");
  }
  form.querySelector("#form-error").textContent = "";
}

/** Put the server's error next to the field it names (``config.x.y`` is the config editor's). */
function showError(form, error) {
  const named = (error.field || "").split(".")[0];
  if (FIELDS.includes(named)) {
    form.querySelector(`#${named}-error`).textContent = error.detail;
    form.elements[named].setAttribute("aria-invalid", "true");
    form.elements[named].focus();
  } else {
    form.querySelector("#form-error").textContent = error.detail;
  }
}

function body(form) {
  const data = { name: form.elements.name.value.trim(), resource: form.elements.resource.value.trim() };
  const maxJobs = form.elements.max_jobs.value.trim();
  if (maxJobs) data.max_jobs = maxJobs;
  if (form.elements.config.value.trim()) data.config = form.elements.config.value;
  return data;
}

function createForm(reload) {
  const form = el("form", { id: "create-queue", novalidate: true },
    el("h2", {}, "Create a queue"),
    field("name", "Name", el("input", { type: "text", required: true, autocomplete: "off" })),
    field("resource", "Resource", el("input", { type: "text", value: "local-process", required: true }),
      "local-process, sagemaker, kubernetes, ... (what this server has targets for)"),
    field("max_jobs", "max_jobs", el("input", { type: "text", inputmode: "numeric", placeholder: "1" }),
      "Runs at once; -1 is unlimited. Empty: the server's default."),
    field("config", "Config (JSON or YAML)", el("textarea", { rows: 8, spellcheck: "false" }),
      "The queue's resource config, e.g. env: {A: \"1\"}"),
    el("p", { id: "form-error", class: "field-error", role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Create queue")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const queue = await api("POST", "/queues", body(form));
      form.reset();
      document.getElementById("announce").textContent = `Queue ${queue.name} created.`;
      await reload();
    } catch (error) {
      showError(form, error);
    }
  });
  return form;
}

export function queuesPage(root) {
  const list = el("section", { "aria-labelledby": "queues-title" },
    el("h1", { id: "queues-title" }, "Queues"), el("div", { id: "queues-body" }, "Loading..."));
  async function reload() {
    const target = list.querySelector("#queues-body");
    try {
      const [{ queues }, { runs }] = await Promise.all([api("GET", "/queues"), api("GET", "/runs?limit=1000")]);
      target.replaceChildren(queueTable(queues, countsByQueue(runs)));
    } catch (error) {
      target.replaceChildren(errorBox(error));
    }
  }
  root.replaceChildren(list, createForm(reload));
  reload();
  return () => {};
}
