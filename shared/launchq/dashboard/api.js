// The public JSON API, and the API key the server may ask for.
//
// A 401 opens the key dialog once; the key goes to sessionStorage (this tab only, gone when
// it closes) and is sent as "Authorization: Bearer". Requests that meet a 401 while the
// dialog is open wait for the same answer, so the user is asked once.

const KEY_NAME = "launchq.apiKey";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body.detail || body.message || `the server answered HTTP ${status}`;
    super(detail);
    this.status = status;
    this.error = body.error || "error";
    this.detail = detail;
    this.field = body.field || null;
  }
}

let asking = null;
let declined = false; // the user closed the dialog: ask again only when they press "Enter API key"

function refusal() {
  return new ApiError(401, { error: "unauthorized", detail: "an API key is needed to use this server" });
}

function storedKey() {
  return sessionStorage.getItem(KEY_NAME);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
  showForget();
}

function showForget() {
  const button = document.getElementById("forget-key");
  if (!button) return;
  button.hidden = storedKey() === null && !declined;
  button.textContent = storedKey() === null ? "Enter API key" : "Forget API key";
}

function askForKey(detail) {
  if (asking) return asking;
  if (declined) return Promise.reject(refusal());
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  document.getElementById("key-error").textContent = storedKey() === null ? "" : detail;
  asking = new Promise((resolve, reject) => {
    const submitted = () => {
      dialog.removeEventListener("cancel", cancelled);
      sessionStorage.setItem(KEY_NAME, input.value.trim());
      input.value = "";
      asking = null;
      showForget();
      resolve();
    };
    // Escape closes the dialog: the request fails in words; nothing asks again until the
    // user presses "Enter API key" (a page polling every 2 s would otherwise reopen it)
    const cancelled = () => {
      form.removeEventListener("submit", submitted);
      asking = null;
      declined = true;
      showForget();
      reject(refusal());
    };
    form.addEventListener("submit", submitted, { once: true });
    dialog.addEventListener("cancel", cancelled, { once: true });
  });
  dialog.showModal();
  input.focus();
  return asking;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

/** One call of the JSON API: the parsed body, or an ApiError carrying {error, detail, field}. */
export async function api(method, path, body) {
  for (;;) {
    const headers = { Accept: "application/json" };
    const key = storedKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = await parse(response);
    // API Gateway's own refusal of a key (ApiAuth=API_KEY: its authorizer says 403 {message})
    const gatewayRefusal = response.status === 403 && parsed.message && !parsed.error && storedKey();
    if (response.status === 401 || gatewayRefusal) {
      await askForKey(parsed.detail || parsed.message || "the API key was refused");
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }
}

export function setUpKeyButton(onForget) {
  showForget();
  document.getElementById("forget-key").addEventListener("click", () => {
    declined = false;
    forgetKey();
    onForget();
  });
}
