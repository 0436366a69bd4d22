// Small DOM and text helpers shared by the pages. Text always goes in as textContent, never
// as HTML, so nothing a run or queue name holds can inject markup.

/** An element: el("td", {class: "num"}, "3", otherNode). Attribute null/false is left out. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const TERMINAL = new Set(["finished", "failed", "stopped", "cancelled", "dead_letter"]);
export const STATES = [
  "queued", "claimed", "building", "starting", "running", "stopping",
  "finished", "failed", "stopped", "cancelled", "preempted", "dead_letter",
];

/** "5 s", "3 min", "2 h", "4 d": a duration in seconds, rounded down to its largest unit. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** How long ago ``iso`` was ("" for none). */
export function age(iso, now = Date.now()) {
  return iso ? duration((now - Date.parse(iso)) / 1000) : "";
}

/** An ETA as "in 3 min (14:05:09)", "due (14:05:09)" once passed, or "" when the API gives none. */
export function eta(iso, now = Date.now()) {
  if (!iso) return "";
  const at = Date.parse(iso);
  const clock = new Date(at).toLocaleTimeString();
  return at <= now ? `due (${clock})` : `in ${duration((at - now) / 1000)} (${clock})`;
}

/** The plain-language waiting reason of a run, or "" (absent or null before the API has it). */
export function waiting(run) {
  return run.waiting && run.waiting.reason ? run.waiting.reason : "";
}

export function stateBadge(state) {
  return el("span", { class: `state state-${state}` }, state);
}

/** A time for a table cell, with the full ISO time on a <time>. */
export function when(iso) {
  if (!iso) return "";
  return el("time", { datetime: iso, title: iso }, new Date(iso).toLocaleString());
}

export function errorBox(error) {
  return el("p", { class: "error", role: "alert" }, error.detail || String(error));
}

/**
 * Call ``fn`` now and then every ``ms`` while the tab is visible (a hidden tab asks nothing;
 * it catches up as soon as it is shown again). Returns a function that stops it.
 */
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    clearTimeout(timer);
    if (stopped || document.hidden) return;
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  const onVisibility = () => {
    if (!document.hidden) tick();
  };
  document.addEventListener("visibilitychange", onVisibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
}
