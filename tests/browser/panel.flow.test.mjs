// End-to-end: the panel's flow from the seed ("search for the API, click its name: this loads
// the reference and prepares the request; click Test request"), the permission picker, work
// kept across reloads, copy buttons, the wording of each mode, dark and narrow layouts, and an
// axe-core accessibility scan. Run with panel.test.mjs: see the comment there.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { field, fieldErrors, launch, pressTestRequest, shots, startChild, startRunnable, watch } from "./harness.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let emulator;
let emulatorUrl;
let server;
let base;
let quiet;
let quietBase;
let browser;
let context;
let page;
let seen;

before(async () => {
  ({ emulator, emulatorUrl, server, base } = await startRunnable());
  // A test-request-only server without credentials: its own wording and warnings.
  ({ child: quiet, url: quietBase } = await startChild(["serve", "--port", "0"],
    { REBILLY_API_KEY: undefined, REBILLY_JWT: undefined }));
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base.replace(/\/$/, "") });
  page = await context.newPage();
  seen = watch(page, base);
  await page.goto(base);
  await page.waitForSelector("body[data-ready]");
});

after(async () => {
  await browser?.close();
  for (const child of [server, quiet, emulator]) child?.kill("SIGINT");
});

/** Types `query` in the search box and takes the first match with the keyboard. */
async function chooseOperation(query) {
  await page.fill("#op-search", query);
  await page.press("#op-search", "ArrowDown");
  await page.press("#op-search", "Enter");
}

/** Serious or critical axe-core violations on the page as it is. */
async function axeViolations(target = page) {
  // Evaluated, not added as a <script>: the panel's CSP allows only its own script.
  await target.evaluate(axeSource);
  const result = await target.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

test("search finds operations by summary, operationId, method or path, from the keyboard", async () => {
  await page.focus("#op-search");
  await page.fill("#op-search", "get /api-keys");
  const options = () => page.$$eval("#op-list [role=option]", (o) => o.map((x) => x.textContent));
  let found = await options();
  assert.equal(found.length, 2, JSON.stringify(found));
  assert.ok(found.every((text) => text.startsWith("GET")), JSON.stringify(found));
  assert.equal(await page.getAttribute("#op-search", "aria-expanded"), "true");
  await page.fill("#op-search", "PutApiKey");
  assert.deepEqual((await options()).length, 1);
  await page.fill("#op-search", "upsert");
  assert.match((await options())[0], /PUT\/api-keys\/\{id\}Upsert an API key/);
  await page.fill("#op-search", "no such thing");
  assert.equal(await page.isHidden("#op-list"), true);
  assert.equal(await page.getAttribute("#op-search", "aria-expanded"), "false");

  await page.fill("#op-search", "delete");
  await page.press("#op-search", "ArrowDown");
  assert.equal(await page.getAttribute("#op-search", "aria-activedescendant"), "op-list-0");
  await page.press("#op-search", "Enter");
  assert.equal(await page.textContent("#operation"), "DELETE /api-keys/{id} (DeleteApiKey)");
  assert.equal(await page.textContent("#ref-title"), "Delete an API key");
  assert.equal(await page.locator(field("/id")).count(), 1);
  assert.equal(await page.locator(field("/body/description")).count(), 0);
});

test("choosing an operation shows its reference and prepares the form; Test request sends it", async () => {
  await chooseOperation("retrieve api keys");
  assert.equal(await page.textContent("#ref-title"), "Retrieve API keys");
  const reference = await page.textContent("#ref-body");
  for (const text of ["GetApiKeyCollection", "ListApiKeys", "limit", "The most keys to return.", "200"]) {
    assert.ok(reference.includes(text), `${text} in the reference`);
  }
  // The example response, from the definition, before anything has run.
  assert.match(await page.textContent("#example-title"), /200, from the definition/);
  const example = JSON.parse(await page.textContent("#example-response"));
  assert.ok(Array.isArray(example) && typeof example[0].id === "string", JSON.stringify(example));

  await page.fill(`${field("/organizationId")} input`, "org-b");
  await page.fill(`${field("/limit")} input[type=text]`, "5");
  await pressTestRequest(page);
  assert.equal(await page.textContent("#status"), "Valid request");
  assert.match(await page.textContent("#request"),
    /^GET https:\/\/api-sandbox\.rebilly\.com\/organizations\/org-b\/api-keys\?limit=5/);
  assert.match(await page.textContent("#step-json"), /"operationId": "GetApiKeyCollection"/);
  await page.screenshot({ path: join(shots, "panel-operation.png"), fullPage: true });

  // Back to creating a key: the shared organizationId is kept, the body is offered.
  await chooseOperation("create");
  assert.equal(await page.inputValue(`${field("/organizationId")} input`), "org-b");
  assert.equal(await page.locator(field("/body/description")).count(), 1);
  const create = await page.textContent("#ref-body");
  assert.ok(create.includes("description") && create.includes("maxLength"), "body fields with constraints");
});

test("the permission picker filters the operationIds, adds several, and flags unknown ones as you type", async () => {
  await page.click("#load-example");
  const picker = '[data-picker="/body/acl/0/permissions"]';
  await page.fill(picker, "getcustomercoll");
  const options = await page.$$eval("[role=listbox]:not([hidden]) [role=option]", (o) => o.map((x) => x.textContent));
  assert.deepEqual(options, ["GetCustomerCollection"]);
  await page.press(picker, "ArrowDown");
  await page.press(picker, "Enter");
  const permission = (i) => `${field(`/body/acl/0/permissions/${i}`)} input`;
  assert.equal(await page.inputValue(permission(2)), "GetCustomerCollection");
  // Several at once, and the wildcard.
  await page.fill(picker, "GetInvoice, PostInvoice  *");
  await page.press(picker, "Enter");
  assert.deepEqual(await Promise.all([3, 4, 5].map((i) => page.inputValue(permission(i)))),
    ["GetInvoice", "PostInvoice", "*"]);
  await page.click('[data-allow-all="/body/acl/0/permissions"]');
  assert.equal(await page.inputValue(permission(6)), "*");
  for (const i of [3, 4, 5, 6]) assert.equal(await page.locator(`${field(`/body/acl/0/permissions/${i}`)} .typo`).count(), 0, String(i));

  // Validated as you type, before any test request: marked, with the suggestion.
  await page.fill(permission(1), "PostCustomr");
  const hint = `${field("/body/acl/0/permissions/1")} .typo`;
  assert.match(await page.textContent(hint), /Not a known operationId; did you mean PostCustomer\?/);
  assert.equal(await page.getAttribute(permission(1), "aria-invalid"), "true");
  const describedBy = await page.getAttribute(permission(1), "aria-describedby");
  assert.ok(describedBy.split(" ").includes(await page.getAttribute(hint, "id")), describedBy);
  // The server says so too, once, at the entry.
  await pressTestRequest(page);
  assert.equal((await page.locator(fieldErrors("/body/acl/0/permissions/1")).allTextContents()).length, 1);
  await page.click(`${hint} button`);
  assert.equal(await page.inputValue(permission(1)), "PostCustomer");
  assert.equal(await page.locator(hint).count(), 0);
});

test("fields are named without their type hints; toggles say which field; errors are linked", async () => {
  await page.click("#load-example");
  // Accessible names as a screen reader says them (a text field with suggestions is a combobox).
  assert.equal(await page.getByRole("combobox", { name: "Description", exact: true }).count(), 1);
  assert.doesNotMatch(await page.locator("#form").ariaSnapshot(), /Description\*|\*string|"Description string"/);
  assert.equal(await page.getByRole("combobox", { name: "Key type", exact: true }).count(), 1);
  const keyType = page.getByRole("checkbox", { name: "Use an expression for Key type" });
  assert.equal(await keyType.count(), 1);
  await keyType.check();
  await page.fill(`${field("/body/type")} input.expression`, "${workflow.input.keyType}");
  assert.match(await page.textContent("#step-json"), /"type": "\$\{workflow.input.keyType\}"/);
  await keyType.uncheck();
  assert.equal(await page.getByRole("checkbox", { name: "Send null for Allowed IPs" }).count(), 1);

  await page.fill(`${field("/body/allowedIps/0")} input`, "10.0.0.8");
  await pressTestRequest(page);
  const ip = `${field("/body/allowedIps/0")} input`;
  assert.equal(await page.getAttribute(ip, "aria-invalid"), "true");
  const describedBy = await page.getAttribute(ip, "aria-describedby");
  const described = await page.evaluate((ids) => ids.split(" ").map((id) => document.getElementById(id).textContent).join(" "), describedBy);
  assert.match(described, /10\.0\.0\.8 is in a private range/);
  await page.fill(ip, "153.12.32.33");
  await pressTestRequest(page);
  assert.equal(await page.getAttribute(ip, "aria-invalid"), null);
});

test("the context editor says where its JSON breaks, by line and column", async () => {
  const before = await page.inputValue("#context");
  await page.fill("#context", '{\n  "workflow": {},\n  oops\n}');
  await page.click("#test-request");
  assert.match(await page.textContent("#context-errors"), /^Context: line 3, column 3: /);
  assert.equal(await page.getAttribute("#context", "aria-invalid"), "true");
  assert.match(await page.getAttribute("#context", "aria-describedby"), /context-errors/);
  await page.fill("#context", before);
  assert.equal(await page.getAttribute("#context", "aria-invalid"), null);
});

test("a run shows the response with status and headers, and the Request card says what was sent", async () => {
  assert.doesNotMatch(await page.textContent("header"), /Nothing is sent/);
  assert.match(await page.textContent("#mode"), /Run for real sends it/);
  await chooseOperation("create");
  await page.click("#load-example");
  await page.fill(`${field("/server")} input`, emulatorUrl);
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Ran:"));
  assert.equal(await page.textContent("#response-status"), "201 Created");
  assert.match(await page.textContent("#response-headers"), /^content-type: application\/json/m);
  assert.equal(JSON.parse(await page.textContent("#response-body")).secretKey, "<redacted>");
  const request = await page.textContent("#request");
  assert.doesNotMatch(request, /Press Test request/);
  assert.match(request, /^Sent by Run for real: POST http:\/\/127\.0\.0\.1:\d+\/api-keys/);
  await page.screenshot({ path: join(shots, "panel-response.png"), fullPage: true });
});

test("Copy buttons copy the request, the curl line and the response", async () => {
  await page.click("#load-example");
  await pressTestRequest(page);
  const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
  await page.click("#copy-curl");
  assert.equal(await clipboard(), await page.textContent("#curl"));
  assert.match(await clipboard(), /^curl -X POST /);
  await page.click("#copy-request");
  assert.match(await clipboard(), /^POST https:\/\/api-sandbox/);
  await page.click("#copy-response");
  assert.equal(JSON.parse(await clipboard()).description, "Key for the Payments team");
  await page.click("#copy-example");
  assert.equal(await clipboard(), await page.textContent("#example-response"));
});

test("the step, context and operation survive a reload; recent answers reopen", async () => {
  await chooseOperation("GetApiKey");
  await page.fill(`${field("/organizationId")} input`, "org-kept");
  await page.fill(`${field("/id")} input`, "key-kept");
  await page.fill("#context", '{"workflow": {"input": {"kept": true}}}');
  await pressTestRequest(page);
  assert.equal(await page.textContent("#status"), "Valid request");
  await page.reload();
  await page.waitForSelector("body[data-ready]");
  assert.equal(await page.textContent("#operation"), "GET /api-keys/{id} (GetApiKey)");
  assert.equal(await page.inputValue(`${field("/id")} input`), "key-kept");
  assert.equal(await page.inputValue(`${field("/organizationId")} input`), "org-kept");
  assert.match(await page.inputValue("#context"), /"kept": true/);

  const entries = await page.$$eval("#history li", (li) => li.map((x) => x.textContent));
  assert.ok(entries.length >= 5 && entries.length <= 20, String(entries.length));
  assert.match(entries[0], /Test request.*GetApiKey.*Valid request/);
  assert.ok(entries.some((e) => /Run.*PostApiKey.*Ran: 201 Created/.test(e)), JSON.stringify(entries));
  // Reopening the run: its operation, step and answer come back.
  await page.locator("#history button", { hasText: "Ran: 201 Created" }).first().click();
  assert.equal(await page.textContent("#operation"), "POST /api-keys (PostApiKey)");
  assert.equal(await page.inputValue(`${field("/server")} input`), emulatorUrl);
  assert.match(await page.textContent("#status"), /^Reopened from .*: Ran: 201 Created/);
  assert.equal(await page.textContent("#response-status"), "201 Created");

  // Bounded: 20 entries at most.
  for (let i = 0; i < 21; i++) await pressTestRequest(page);
  assert.equal(await page.locator("#history li").count(), 20);
});

test("import fills the form through v1/convert, and export writes a curl line and a Conductor task", async () => {
  const secret = "sk_pasted_CANARY_9f3e";
  await page.fill("#transfer-text",
    `curl -H 'REB-APIKEY: ${secret}' https://api-sandbox.rebilly.com/organizations/org-imported/api-keys/key-imported`);
  await page.click("#import-curl");
  await page.waitForFunction(() => document.getElementById("operation").textContent.includes("(GetApiKey)"));
  assert.equal(await page.inputValue(`${field("/id")} input`), "key-imported");
  assert.equal(await page.inputValue(`${field("/organizationId")} input`), "org-imported");
  assert.match(await page.textContent("#transfer-notes"), /Imported as GetApiKey/);
  assert.match(await page.textContent("#transfer-notes .notice.warning"), /left out the REB-APIKEY header/);

  await page.click("#export-conductor");
  await page.waitForFunction(() => document.getElementById("transfer-text").value.includes('"HTTP"'));
  const task = JSON.parse(await page.inputValue("#transfer-text"));
  assert.equal(task.type, "HTTP");
  assert.equal(task.inputParameters.http_request.method, "GET");
  assert.equal(task.inputParameters.http_request.uri,
    "https://api-sandbox.rebilly.com/organizations/org-imported/api-keys/key-imported");
  await page.click("#export-curl");
  await page.waitForFunction(() => document.getElementById("transfer-text").value.startsWith("curl -X GET"));
  // The pasted credential went nowhere: not into the step, not into what was exported.
  assert.ok(!(await page.content()).includes(secret), "the pasted credential is on the page");
});

test("import and export say clearly when the server cannot convert", async () => {
  // An older server without the route.
  await page.route("**/v1/convert", (route) => route.fulfill({ status: 404, json: { error: { kind: "not_found" } } }));
  await page.fill("#transfer-text", "curl -X POST https://api-sandbox.rebilly.com/organizations/o/api-keys");
  await page.click("#import-curl");
  await page.waitForSelector("#transfer-notes .notice");
  assert.match(await page.textContent("#transfer-notes"), /cannot convert.*POST v1\/convert/);
  await page.click("#export-conductor");
  await page.waitForSelector("#transfer-notes .notice");
  assert.match(await page.textContent("#transfer-notes"), /cannot convert/);
  await page.unroute("**/v1/convert");
});

test("light, dark and narrow: no serious or critical accessibility violation", async () => {
  await chooseOperation("create");
  await page.click("#load-example");
  await page.fill(`${field("/body/allowedIps/0")} input`, "10.0.0.8");
  await pressTestRequest(page);
  assert.deepEqual(await axeViolations(), []);
  await page.screenshot({ path: join(shots, "panel-light.png"), fullPage: true });

  await page.emulateMedia({ colorScheme: "dark" });
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(20, 23, 28)");
  assert.deepEqual(await axeViolations(), []);
  await page.screenshot({ path: join(shots, "panel-dark.png"), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });

  await page.setViewportSize({ width: 390, height: 900 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  assert.deepEqual(await axeViolations(), []);
  await page.screenshot({ path: join(shots, "panel-narrow.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 1000 });
});

test("a test-request-only server says nothing is sent, and a missing credential is a warning", async () => {
  const other = await context.newPage();
  const watched = watch(other, quietBase);
  await other.goto(quietBase);
  await other.waitForSelector("body[data-ready]");
  assert.match(await other.textContent("#mode"), /Nothing is sent to the API/);
  assert.equal(await other.isVisible("#run"), false);
  await other.click("#load-example");
  await pressTestRequest(other);
  assert.equal(await other.textContent("#status"), "Valid request");
  const warnings = await other.locator("#problems .list-title.warning").count();
  assert.equal(warnings, 1);
  assert.equal(await other.locator("#problems .list-title.error").count(), 0);
  const styled = await other.evaluate(() => [...document.querySelectorAll("#form-errors li, #form ul.errors li")]
    .every((li) => li.classList.contains("warning")));
  assert.ok(styled, "warnings are styled as warnings");
  assert.deepEqual(await axeViolations(other), []);
  assert.deepEqual(watched.outside, []);
  assert.deepEqual(watched.consoleErrors, []);
  await other.close();
});

test("credentials typed into a step are never kept in the browser's storage", async () => {
  await page.evaluate(() => {
    const parameters = form.get();
    parameters.headers = { "REB-APIKEY": "sk_typed_STOREDSECRET", "Cookie": "sid=STOREDSECRET",
      "X-Trace": "kept" };
    parameters.server = "http://user:pw@STOREDSECRET@127.0.0.1:9/";
    form.set(parameters);
    changed();
  });
  await pressTestRequest(page);
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  assert.ok(!stored.includes("STOREDSECRET"), stored.slice(0, 400));
  assert.ok(stored.includes("X-Trace"), "other headers are kept");
  await page.evaluate(() => {
    const parameters = form.get();
    delete parameters.headers;
    delete parameters.server;
    form.set(parameters);
    changed();
  });
});

test("nothing leaves the server's origin, nothing errors, no credential shows", async () => {
  assert.deepEqual(seen.outside, []);
  assert.deepEqual(seen.consoleErrors, []);
  assert.ok(!(await page.content()).includes("CANARY"));
});
