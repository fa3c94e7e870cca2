// End-to-end: the reference panel served by `apikey-task serve`, driven in headless Chromium.
//
//   cargo build && npm --prefix tests/browser ci && npm --prefix tests/browser test
//
// APIKEY_TASK_BIN overrides the binary (default: $CARGO_TARGET_DIR/debug/apikey-task, else
// target/debug/apikey-task), CHROMIUM the browser (default: /usr/bin/chromium). Screenshots go
// to target/browser/. The panel's newer features are driven in panel.flow.test.mjs.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { field, fieldErrors, launch, pressTestRequest as press, shots, startRunnable, watch } from "./harness.mjs";

let emulator;
let emulatorUrl;
let server;
let base;
let browser;
let page;
let outside;
let consoleErrors;

before(async () => {
  ({ emulator, emulatorUrl, server, base } = await startRunnable());
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  ({ outside, consoleErrors } = watch(page, base));
  await page.goto(base);
  await page.waitForSelector("body[data-ready]");
});

after(async () => {
  await browser?.close();
  server?.kill("SIGINT");
  emulator?.kill("SIGINT");
});

const pressTestRequest = () => press(page);

test("the form is built from the parameters schema", async () => {
  for (const pointer of ["/server", "/organizationId", "/headers", "/body/description",
                         "/body/type", "/body/acl", "/body/allowedIps"]) {
    assert.equal(await page.locator(field(pointer)).count(), 1, pointer);
  }
  assert.match(await page.textContent(field("/body/allowedIps")), /Allowed IPs/);
  assert.match(await page.textContent(field("/body/allowedIps")), /Private subnets are prohibited/);
  const types = await page.$$eval(`${field("/body/type")} select option`, (o) => o.map((x) => x.textContent));
  assert.deepEqual(types.slice(1), ["secret", "publishable"]);
  assert.match(await page.textContent("#operation"), /POST \/api-keys/);
});

test("a private allowed IP is shown at its field, and fixing it gives a valid request", async () => {
  await page.fill(`${field("/organizationId")} input`, "org-e2e");
  await page.fill(`${field("/body/description")} input`, "Key for ${workflow.input.team}");
  await page.click('button[data-add="/body/allowedIps"]');
  const ip = `${field("/body/allowedIps/0")} input`;
  await page.fill(ip, "10.0.0.8");

  await pressTestRequest();
  assert.equal(await page.textContent("#status"), "1 error");
  const errors = await page.locator(fieldErrors("/body/allowedIps/0")).allTextContents();
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(errors[0], /10\.0\.0\.8 is in a private range/);
  assert.equal(await page.locator(`${field("/body/allowedIps/0")}.has-error`).count(), 1);
  // No other field carries it.
  assert.equal(await page.locator("#form ul.errors li").count(), 1);
  await page.screenshot({ path: join(shots, "panel-invalid.png"), fullPage: true });

  await page.fill(ip, "153.12.32.33");
  await pressTestRequest();
  assert.equal(await page.textContent("#status"), "Valid request");
  assert.equal(await page.locator("#form ul.errors li").count(), 0);
  const request = await page.textContent("#request");
  assert.match(request, /^POST https:\/\/api-sandbox\.rebilly\.com\/organizations\/org-e2e\/api-keys/);
  assert.match(request, /"description": "Key for Payments"/);
  assert.match(request, /"153\.12\.32\.33"/);
  assert.match(request, /REB-APIKEY: <redacted>/);
  const curl = await page.textContent("#curl");
  assert.match(curl, /^curl -X POST /);
  assert.match(curl, /\$REBILLY_API_KEY/);
  await page.screenshot({ path: join(shots, "panel-valid.png"), fullPage: true });
});

test("text fields suggest expressions into earlier steps' output and the context", async () => {
  const suggestions = () => page.$$eval("#expressions option", (o) => o.map((x) => x.value));
  // Before anything has run: from the output schema, for the step named `createKey`.
  let values = await suggestions();
  for (const expected of ["${createKey.output.response.body.id}", "${createKey.output.response.statusCode}",
                          "${createKey.output.response.body.acl[0].permissions}", "${workflow.input.team}"]) {
    assert.ok(values.includes(expected), `${expected} in ${values.length} suggestions`);
  }
  assert.equal(await page.getAttribute(`${field("/body/description")} input`, "list"), "expressions");
  await page.fill("#earlier-steps", "lookup");
  values = await suggestions();
  assert.ok(values.includes("${lookup.output.response.body.id}"));
  assert.ok(!values.includes("${createKey.output.response.body.id}"));
  await page.fill("#earlier-steps", "createKey");
});

test("the context editor reports JSON it cannot read, beside itself", async () => {
  const before = await page.inputValue("#context");
  await page.fill("#context", "{ not json");
  await page.click("#test-request");
  assert.match(await page.textContent("#context-errors"), /Context:/);
  assert.equal(await page.textContent("#status"), "Fix the context first");
  await page.fill("#context", before);
});

test("the example, with expressions and an ACL, is a valid request", async () => {
  await page.click("#load-example");
  await pressTestRequest();
  assert.equal(await page.textContent("#status"), "Valid request");
  const request = await page.textContent("#request");
  assert.match(request, /organizations\/org-1\/api-keys/);
  assert.match(request, /"GetCustomerCollection"/);
  // An unknown permission is reported at its list entry.
  await page.fill(`${field("/body/acl/0/permissions/1")} input`, "PostCustomr");
  await pressTestRequest();
  const errors = await page.locator(fieldErrors("/body/acl/0/permissions/1")).allTextContents();
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(errors[0], /PostCustomer/);
  await page.screenshot({ path: join(shots, "panel-example.png"), fullPage: true });
});

test("adding and removing list entries keeps the others as they are", async () => {
  await page.click("#load-example");
  // A half-written expression in the first ACL entry survives adding a second entry.
  const toggle = '[data-expression-toggle="/body/acl/0/scope/planId"]';
  await page.check(toggle);
  const expression = `${field("/body/acl/0/scope/planId")} input.expression`;
  await page.fill(expression, "${workflow.inp");
  await page.click('button[data-add="/body/acl"]');
  assert.equal(await page.isChecked(toggle), true);
  assert.equal(await page.inputValue(expression), "${workflow.inp");

  // Removing the first allowed IP renumbers the rest, and errors land on the renumbered field.
  await page.click('button[data-add="/body/allowedIps"]');
  await page.fill(`${field("/body/allowedIps/2")} input`, "10.1.1.1");
  await page.click('button[data-remove="/body/allowedIps/0"]');
  assert.equal(await page.inputValue(`${field("/body/allowedIps/1")} input`), "10.1.1.1");
  assert.equal(await page.textContent(`${field("/body/allowedIps/1")} .label-text`), "#2");
  assert.equal(await page.locator(field("/body/allowedIps/2")).count(), 0);
  await pressTestRequest();
  const errors = await page.locator(fieldErrors("/body/allowedIps/1")).allTextContents();
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(errors[0], /10\.1\.1\.1 is in a private range/);
});

test("null, where the schema allows it, is sent as null", async () => {
  await page.click("#load-example");
  const toggle = '[data-null-toggle="/body/allowedIps"]';
  await page.check(toggle);
  assert.match(await page.textContent("#step-json"), /"allowedIps": null/);
  await pressTestRequest();
  assert.equal(await page.textContent("#status"), "Valid request");
  assert.match(await page.textContent("#request"), /"allowedIps": null/);
  await page.uncheck(toggle);
  assert.match(await page.textContent("#step-json"), /"allowedIps": \[/);
});

test("Run for real sends the step to an allowed server and shows the output, secret redacted", async () => {
  assert.equal(await page.isVisible("#run"), true);
  await page.click("#load-example");
  await page.fill(`${field("/server")} input`, emulatorUrl);
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Ran:"));
  assert.equal(await page.textContent("#status"), "Ran: 201 Created");
  const output = JSON.parse(await page.textContent("#run-output"));
  assert.equal(output.response.body.description, "Key for the Payments team");
  assert.equal(output.response.body.secretKey, "<redacted>");
  await page.screenshot({ path: join(shots, "panel-run.png"), fullPage: true });

  // Anywhere else: refused before sending, so the key cannot be sent to a host of the caller's.
  await page.fill(`${field("/server")} input`, "http://127.0.0.1:9");
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("server_not_allowed"));
});

test("nothing leaves the server's origin, nothing errors, no credential shows", async () => {
  assert.deepEqual(outside, []);
  assert.deepEqual(consoleErrors, []);
  assert.ok(!(await page.content()).includes("CANARY"));
});
