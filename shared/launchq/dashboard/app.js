// The dashboard's entry point: a hash router over three pages, each a function that renders
// into <main> and returns how to stop its polling when the user leaves it.
//   #/queues            queues and the create form
//   #/runs?queue=&state= runs, filtered, refreshed every 2 s
//   #/runs/<id>         one run: config, events, log tail, Stop / Replay

import { setUpKeyButton } from "./api.js";
import { queuesPage } from "./queues.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";

let leave = () => {};

function route() {
  const hash = location.hash.replace(/^#/, "") || "/runs";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  const main = document.getElementById("main");
  leave();
  const runMatch = path.match(/^\/runs\/([^/]+)$/);
  let page = "runs";
  if (path === "/queues") {
    page = "queues";
    leave = queuesPage(main, params);
  } else if (runMatch) {
    leave = runPage(main, decodeURIComponent(runMatch[1]));
  } else {
    leave = runsPage(main, params);
  }
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const title = main.querySelector("h1");
  document.title = `${title ? title.textContent : "launchq"} · launchq`;
}

window.addEventListener("hashchange", route);
setUpKeyButton(route);
route();
