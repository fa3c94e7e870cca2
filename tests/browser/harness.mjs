// What the browser tests share: the binary, the child processes, the browser.
//
// APIKEY_TASK_BIN overrides the binary (default: $CARGO_TARGET_DIR/debug/apikey-task, else
// target/debug/apikey-task), CHROMIUM the browser (default: /usr/bin/chromium).

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const bin = process.env.APIKEY_TASK_BIN ||
  join(process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, "target"),
       "debug/apikey-task");
/** Screenshots: target/browser/ of the repository. */
export const shots = join(root, "target/browser");
// Stands in for the configured key: it must never reach the page.
export const CANARY = "sk_live_CANARY_browser_41c2";

/** Starts `apikey-task ARGS` and resolves with the child and the URL it prints first. */
export function startChild(args, env = { REBILLY_API_KEY: CANARY }) {
  const childEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  const child = spawn(bin, args, { env: childEnv, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolveUrl, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`apikey-task ${args[0]} exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const match = /https?:\/\/\S+/.exec(line);
      if (match) resolveUrl({ child, url: match[0] });
      else reject(new Error(`unexpected first line: ${line}`));
    });
  });
}

/**
 * An emulator that accepts only CANARY, and a server allowed to run steps against it (so a run
 * proves the key travelled): resolves with both children and their URLs.
 */
export async function startRunnable() {
  const { child: emulator, url: emulatorUrl } =
    await startChild(["emulator", "--port", "0", "--accept", CANARY]);
  const { child: server, url: base } = await startChild(
    ["serve", "--port", "0", "--allow-run", "--allow-run-to", emulatorUrl]);
  return { emulator, emulatorUrl, server, base };
}

export function launch() {
  mkdirSync(shots, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // This machine's network is closed: without these Chromium keeps dialling Google.
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    // Playwright gives each launch a new, empty profile directory.
  });
}

/** Records requests to other origins and console errors (a handled 4xx is not one). */
export function watch(page, base) {
  const seen = { outside: [], consoleErrors: [] };
  page.on("request", (request) => {
    if (!request.url().startsWith(base)) seen.outside.push(request.url());
  });
  page.on("console", (message) => {
    const handled = /^Failed to load resource: the server responded with a status of 4\d\d/;
    if (message.type() === "error" && !handled.test(message.text())) seen.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => seen.consoleErrors.push(String(error)));
  return seen;
}

export const field = (pointer) => `#form .field[data-pointer="${pointer}"]`;
export const fieldErrors = (pointer) => `${field(pointer)} > ul.errors li`;

/** Clicks Test request and waits for the status to say how it went. */
export async function pressTestRequest(page) {
  const answered = page.waitForResponse((r) => r.url().endsWith("/v1/test-request"));
  await page.click("#test-request");
  await answered;
  await page.waitForFunction(() => !["", "Checking…"].includes(document.getElementById("status").textContent));
}
