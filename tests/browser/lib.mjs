// What every browser scenario shares: Debian's Chromium driven by playwright-core, a shopper
// per browser context (own cookies), an accessibility audit (axe-core) and screenshots of
// every page, and a watch for what must never happen (a script error, a CSP violation, a
// request leaving the shop). A scenario is `run(name, async (t) => { ... })`; it prints its
// steps and exits non-zero on the first failure. tests/browser.rs runs each one against a
// shop it started.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/// The shop under test: `node <scenario>.mjs http://127.0.0.1:PORT`.
export const BASE = process.argv[2];
/// Where screenshots go (none when unset).
const SHOTS = process.env.SCREENSHOTS_DIR;
/// How long one step may wait for the page.
const STEP_MS = 15_000;

/// The two widths every page is checked at.
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

export class Failure extends Error {}

/// Fails the scenario with `message` unless `condition` holds.
export function expect(condition, message) {
  if (!condition) throw new Failure(message);
}

/// A unique email for this run.
export function email(tag) {
  return `${tag}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
}

/// Waits `ms` milliseconds.
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Polls `probe` every 250 ms until it returns a truthy value, for at most `ms`.
export async function eventually(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Failure(`gave up after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

/// One person at the shop: a browser context of their own, and its page.
export class Shopper {
  constructor(name, context, page, problems, allowedOrigins) {
    this.name = name;
    this.context = context;
    this.page = page;
    page.setDefaultTimeout(STEP_MS);
    page.on("pageerror", (error) => problems.push(`${name}: script error: ${error.message}`));
    page.on("console", (message) => {
      // A page answered with a 4xx on purpose (a refused form, a 404) is logged by Chromium
      // as a failed load; the response watch below tells those from broken assets.
      const text = message.text();
      if (message.type() === "error" && !text.startsWith("Failed to load resource")) {
        problems.push(`${name}: console error: ${text}`);
      }
    });
    page.on("response", (response) => {
      const kind = response.request().resourceType();
      if (kind !== "document" && response.status() >= 400) {
        problems.push(`${name}: ${kind} ${response.url()} answered ${response.status()}`);
      }
    });
    page.on("request", (request) => {
      const origin = new URL(request.url()).origin;
      if (!allowedOrigins.includes(origin)) {
        problems.push(`${name}: a request left the shop: ${request.url()}`);
      }
    });
  }

  /// Opens `path` of the shop and returns the response.
  async goto(path) {
    return this.page.goto(BASE + path);
  }

  /// The text of the page's main content.
  async main() {
    return this.page.locator("main").innerText();
  }

  /// The `<h1>`.
  async heading() {
    return this.page.locator("h1").innerText();
  }

  /// Signs up through the sign-up page.
  async signUp(address, password = "pass1234") {
    await this.goto("/signup");
    await this.page.getByLabel("Email").fill(address);
    await this.page.getByLabel("Password").fill(password);
    await this.page.getByRole("button", { name: "Create account" }).click();
    await this.page.waitForURL(BASE + "/");
    const header = await this.page.locator("header").innerText();
    expect(header.includes(`Signed in as ${address}`), `${this.name} is not signed in: ${header}`);
    this.email = address;
  }

  /// Signs out with the header's button.
  async signOut() {
    await this.page.getByRole("button", { name: "Sign out" }).click();
    await this.page.getByRole("navigation").getByRole("link", { name: "Sign in" }).waitFor();
    const header = await this.page.locator("header").innerText();
    expect(!header.includes("Signed in"), `${this.name} is still signed in: ${header}`);
  }

  /// Buys the ticket whose page is open, for `price` (as shown, `$15.00`); returns the new
  /// order's path.
  async buy(price) {
    await this.page.getByRole("button", { name: `Buy for ${price}` }).click();
    await this.page.waitForURL(/\/orders\/[^/]+$/);
    return new URL(this.page.url()).pathname;
  }

  /// Puts a ticket on sale through the sell page; returns its page's path.
  async sell(title, price) {
    await this.page.getByRole("link", { name: "Sell a ticket" }).first().click();
    await this.page.getByLabel("Title").fill(title);
    await this.page.getByLabel("Price").fill(price);
    await this.page.getByRole("button", { name: "Put on sale" }).click();
    await this.page.waitForURL(/\/tickets\/[^/]+$/);
    expect((await this.heading()) === title, `the new ticket's page is not "${title}"`);
    return new URL(this.page.url()).pathname;
  }
}

/// Runs a scenario: launches Chromium, hands it `t` (shoppers, audits, screenshots), and
/// exits 0 only if every step passed and nothing was seen that must never happen.
export async function run(name, scenario, { allowedOrigins = [] } = {}) {
  expect(BASE, "usage: node <scenario>.mjs <shop base URL>");
  const started = Date.now();
  const problems = [];
  const audited = new Set();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // Playwright gives every launch a new, empty --user-data-dir of its own.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const t = {
    step(text) {
      console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${name}: ${text}`);
    },
    async shopper(who) {
      const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
      const page = await context.newPage();
      return new Shopper(who, context, page, problems, [new URL(BASE).origin, ...allowedOrigins]);
    },
    /// Audits the page the shopper is on (once per `label`) with axe-core against WCAG 2.1
    /// A and AA, at both widths, and screenshots it as `<label>-desktop.png` and
    /// `<label>-phone.png`. A serious or critical violation fails the scenario.
    async check(shopper, label) {
      const page = shopper.page;
      for (const [width, viewport] of Object.entries(VIEWPORTS)) {
        await page.setViewportSize(viewport);
        if (!audited.has(label)) await audit(page, `${label} (${width})`);
        if (SHOTS) {
          mkdirSync(SHOTS, { recursive: true });
          await page.screenshot({ path: join(SHOTS, `${label}-${width}.png`) });
        }
      }
      await page.setViewportSize(VIEWPORTS.desktop);
      audited.add(label);
    },
  };
  let failed = null;
  try {
    await scenario(t);
  } catch (error) {
    failed = error;
  } finally {
    await browser.close();
  }
  if (failed) {
    console.error(`${name}: FAILED: ${failed instanceof Failure ? failed.message : failed.stack}`);
  }
  for (const problem of problems) console.error(`${name}: ${problem}`);
  if (failed || problems.length) process.exit(1);
  console.log(`${name}: passed in ${((Date.now() - started) / 1000).toFixed(1)} s, ${audited.size} pages audited`);
}

/// axe-core in the page (evaluated through the DevTools protocol, which the page's CSP
/// does not govern, so the audit needs no weaker policy).
async function audit(page, label) {
  const already = await page.evaluate(() => typeof window.axe === "object");
  if (!already) await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    }),
  );
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of result.violations) {
    const where = v.nodes.map((n) => n.target.join(" ")).join(", ");
    console.log(`  axe ${label}: ${v.impact}: ${v.id}: ${v.help} (${where})`);
  }
  expect(serious.length === 0, `${label}: ${serious.length} serious accessibility violations (listed above)`);
}
