// How the browser tests survive WebKit's known page fault
// (test/helpers/webkit-faults.ts): a WebKit page whose web process dies takes
// its WebDriver session with it, the next page starts a new session, and a
// test the fault hits runs once more; nothing else is ever run again.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, type Browser } from "../helpers/browsers.mjs";
import { WEBKIT_PAGE_FAULT, webkitFaults } from "../helpers/webkit-faults.js";

describe("webkitFaults", () => {
  const lost = () => new Error("WebKitWebDriver POST /session/x/execute/async: unknown error: Could not parse script result");

  it("runs a WebKit test once more after a known fault, and the second run decides", async () => {
    const faults = webkitFaults("webkit");
    let runs = 0;
    await expect(faults.run("a", async () => { if (++runs === 1) throw lost(); return "second"; })).resolves.toBe("second");
    expect(runs).toBe(2);
    expect(faults.rerun).toEqual([`a: ${lost().message}`]);
    runs = 0;
    await expect(faults.run("b", async () => { runs++; throw lost(); })).rejects.toThrow(/Could not parse script result/);
    expect(runs).toBe(2);
  });

  it("never reruns another failure, another engine, or past its budget", async () => {
    const webkit = webkitFaults("webkit", 1);
    let runs = 0;
    await expect(webkit.run("assertion", async () => { runs++; expect(1).toBe(2); })).rejects.toThrow(/expected 1 to be 2/);
    expect(runs).toBe(1);
    for (const engine of ["chromium", "firefox"] as const) {
      runs = 0;
      await expect(webkitFaults(engine).run("x", async () => { runs++; throw lost(); })).rejects.toThrow(/Could not parse/);
      expect(runs).toBe(1);
    }
    let once = 0;
    await webkit.run("first", async () => { if (++once === 1) throw lost(); });
    runs = 0;
    await expect(webkit.run("over budget", async () => { runs++; throw lost(); })).rejects.toThrow(/Could not parse/);
    expect(runs).toBe(1);
    expect(webkit.rerun).toHaveLength(1);
  });

  it("knows the fault's forms and nothing broader", () => {
    for (const m of ["unknown error: Could not parse script result", "invalid session id: session deleted because of page crash or hang.",
      "in the page: RuntimeError: Unreachable code should not be executed"]) expect(m).toMatch(WEBKIT_PAGE_FAULT);
    for (const m of ["waitFor timed out after 20000 ms", "in the page: bad signature", "expected 'one' to be 'two'"]) expect(m).not.toMatch(WEBKIT_PAGE_FAULT);
  });
});

describe("WebKit, its web process killed under a page", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch("webkit");
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("the page's evaluation fails in the fault's form; the next page is in a new session and works", async () => {
    const page = await browser.newPage();
    await page.goto("about:blank");
    expect(await page.evaluate(() => 1 + 1)).toBe(2);
    const pending = page.evaluate(() => new Promise((r) => setTimeout(() => r("late"), 10_000)));
    pending.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    // this browser's web processes (its driver leads their process group), as a crash would end them
    const pids = execFileSync("pgrep", ["-g", String(browser.processGroup), "WebKitWebProces"]).toString().trim().split(/\s+/).map(Number);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, "SIGKILL");
    await expect(pending).rejects.toThrow(WEBKIT_PAGE_FAULT);
    expect(browser.restarts).toBe(0);
    const next = await browser.newPage();
    expect(browser.restarts).toBe(1);
    await next.goto("about:blank");
    expect(await next.evaluate(() => navigator.userAgent)).toMatch(/AppleWebKit/);
    await next.close();
  });
});
