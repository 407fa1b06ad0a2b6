// Browser client for the demo FHIR API. It creates, reads, updates and deletes one
// Patient from another origin and writes each step's outcome to the page and, as
// JSON, to <pre id="result">.
"use strict";

const DEFAULT_API = "http://localhost:8000";
const BEARER_TOKEN = "demo-token";
const FHIR_JSON = "application/fhir+json";

const NEW_PATIENT = {
  resourceType: "Patient",
  active: true,
  name: [{ family: "Lovelace", given: ["Ada"] }],
  gender: "female",
};

// Fields written for every step into #result. Tests read these names.
function newStep(name) {
  return { name, ok: false, status: null, location: null, etag: null, error: null };
}

function apiBase() {
  const params = new URLSearchParams(window.location.search);
  const base = params.get("api") || DEFAULT_API;
  return base.replace(/\/+$/, "");
}

// Returns the Patient id from a Location such as /Patient/<id>/_history/<version>,
// relative or absolute, or null when the value has another form.
function patientIdFromLocation(location) {
  const match = /\/Patient\/([A-Za-z0-9.-]{1,64})\/_history\/[^/]+$/.exec(location || "");
  return match ? match[1] : null;
}

async function readJsonBody(response) {
  const text = await response.text();
  if (!text) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    return null;
  }
}

function diagnosticsOf(body) {
  const issue = body && Array.isArray(body.issue) ? body.issue[0] : null;
  return issue && issue.diagnostics ? issue.diagnostics : "no OperationOutcome diagnostics";
}

// Sends one request and records it as a step in `result`.
// options: method, url, body (sent as FHIR JSON), headers, expectedStatus,
// requiredHeaders (response headers that must be readable, which needs CORS
// Access-Control-Expose-Headers), check (extra test returning an error or null).
// Returns { ok, step, resource } where resource is the parsed response body or null.
async function runStep(result, name, options) {
  const step = newStep(name);
  result.steps.push(step);
  render(result);

  const headers = { Accept: FHIR_JSON, Authorization: `Bearer ${BEARER_TOKEN}` };
  Object.assign(headers, options.headers || {});
  const init = { method: options.method, mode: "cors", cache: "no-store", headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = FHIR_JSON;
    init.body = JSON.stringify(options.body);
  }

  let response;
  try {
    response = await fetch(options.url, init);
  } catch (error) {
    // fetch rejects with TypeError when the browser blocks the request or response
    // (a CORS rejection) or the network fails. Browsers report the reason only in
    // the developer console.
    step.error =
      error instanceof TypeError
        ? `fetch failed (${error.message}): CORS rejected the request or the API is ` +
          "unreachable. The browser console shows the reason."
        : String(error);
    render(result);
    return { ok: false, step, resource: null };
  }

  step.status = response.status;
  step.location = response.headers.get("Location");
  step.etag = response.headers.get("ETag");
  const resource = await readJsonBody(response);
  step.error = checkResponse(step, response, resource, options);
  step.ok = step.error === null;
  render(result);
  return { ok: step.ok, step, resource };
}

function checkResponse(step, response, resource, options) {
  if (step.status !== options.expectedStatus) {
    const diagnostics = diagnosticsOf(resource);
    return `Expected HTTP ${options.expectedStatus}, got ${step.status}: ${diagnostics}`;
  }
  for (const header of options.requiredHeaders || []) {
    if (response.headers.get(header) === null) {
      return (
        `${header} is missing or unreadable. The API must send it and list it in ` +
        "Access-Control-Expose-Headers."
      );
    }
  }
  return options.check ? options.check(step, resource) : null;
}

// Runs create, read, update and delete in order and stops at the first failed step,
// because each step needs the previous one's id or ETag.
async function runSteps(api, result) {
  const created = await runStep(result, "create", {
    method: "POST",
    url: `${api}/Patient`,
    body: NEW_PATIENT,
    expectedStatus: 201,
    requiredHeaders: ["Location", "ETag"],
    check: (step) =>
      patientIdFromLocation(step.location)
        ? null
        : `Location ${step.location} does not have the form /Patient/<id>/_history/<version>.`,
  });
  if (!created.ok) {
    return;
  }

  const patientUrl = `${api}/Patient/${patientIdFromLocation(created.step.location)}`;
  const read = await runStep(result, "read", {
    method: "GET",
    url: patientUrl,
    expectedStatus: 200,
    requiredHeaders: ["ETag"],
  });
  if (!read.ok) {
    return;
  }

  const changed = Object.assign({}, read.resource, { active: false, birthDate: "1815-12-10" });
  const updated = await runStep(result, "update", {
    method: "PUT",
    url: patientUrl,
    body: changed,
    headers: { "If-Match": read.step.etag },
    expectedStatus: 200,
    requiredHeaders: ["ETag"],
    check: (step) =>
      step.etag !== read.step.etag ? null : `ETag ${step.etag} did not change after the update.`,
  });
  if (!updated.ok) {
    return;
  }

  await runStep(result, "delete", { method: "DELETE", url: patientUrl, expectedStatus: 204 });
}

function render(result) {
  document.getElementById("result").textContent = JSON.stringify(result, null, 2);

  const rows = result.steps.map((step) => {
    const row = document.createElement("tr");
    row.className = step.ok ? "ok" : "failed";
    for (const value of [step.name, step.status, step.location, step.etag, step.error]) {
      const cell = document.createElement("td");
      cell.textContent = value === null ? "" : String(value);
      row.appendChild(cell);
    }
    return row;
  });
  document.getElementById("steps").replaceChildren(...rows);
}

async function runDemo() {
  const button = document.getElementById("run");
  button.disabled = true;
  const result = { done: false, ok: false, api: apiBase(), steps: [] };
  render(result);

  try {
    await runSteps(result.api, result);
  } catch (error) {
    // A bug in this page, not an API failure: record it so the run still finishes.
    const step = newStep("client");
    step.error = String(error);
    result.steps.push(step);
  } finally {
    result.ok = result.steps.length === 4 && result.steps.every((step) => step.ok);
    result.done = true;
    render(result);
    button.disabled = false;
  }
}

function init() {
  document.getElementById("page-origin").textContent = window.location.origin;
  document.getElementById("api-base").textContent = apiBase();
  document.getElementById("run").addEventListener("click", runDemo);

  if (new URLSearchParams(window.location.search).get("auto") === "1") {
    runDemo();
  }
}

init();
