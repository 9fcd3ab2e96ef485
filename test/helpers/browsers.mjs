// Every browser engine, through one small driver interface, for the browser
// tests (test/browser/) and `make bench` (bench/browser.mjs) alike:
//
//   chromium  Debian's Chromium, driven by playwright-core (Chrome DevTools Protocol)
//   firefox   Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi
//   webkit    Debian's WebKitGTK (the engine of Safari): its MiniBrowser, driven
//             by WebKitWebDriver (classic W3C WebDriver over HTTP, a client of
//             our own below) on an X server of its own (Xvfb)
//
// No browser is downloaded: each is Debian's build (scripts/setup.sh installs
// them). `launch(engine)` starts a browser with a fresh profile; `newPage()`
// opens a page; `evaluate(fn, arg)` runs `fn(arg)` in the page and resolves
// with its (awaited) result, which must survive JSON. Every process a browser
// starts (browser, driver, Xvfb) is ended by `close()`, and, should a test
// runner exit without calling it, when this process exits.
//
// Plain JavaScript (with browsers.d.mts), so vitest and bench/ share it.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as net from "node:net";

export const ENGINES = /** @type {const} */ (["chromium", "firefox", "webkit"]);

export const PATHS = {
  chromium: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  firefox: process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr",
  // WebKitGTK's MiniBrowser is not on PATH; Debian installs it with libwebkit2gtk-4.1-0.
  webkit: process.env.WEBKIT_MINIBROWSER_PATH ?? `/usr/lib/${multiarch()}/webkit2gtk-4.1/MiniBrowser`,
  webkitDriver: process.env.WEBKIT_DRIVER_PATH ?? "WebKitWebDriver",
};

function multiarch() {
  const arch = { x64: "x86_64", arm64: "aarch64", ia32: "i386", arm: "arm", riscv64: "riscv64", ppc64: "powerpc64le", s390x: "s390x" }[process.arch];
  return `${arch ?? process.arch}-linux-gnu${process.arch === "arm" ? "eabihf" : ""}`;
}

export const DEFAULT_VIEWPORT = { width: 1280, height: 800 };

// ---- processes this module started: ended on close(), or at exit at the latest

const children = new Set();
const killAll = () => {
  for (const kill of children) kill();
};
process.once("exit", killAll);
// A signal (Ctrl-C on `make bench`, a test runner ending its worker) would
// skip "exit" and leave the driver's process group behind: kill it, then let
// the signal do what it would have done had no one listened.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  const onSignal = () => {
    killAll();
    process.removeListener(signal, onSignal);
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.on(signal, onSignal);
}
/** Remembers a child to kill (its whole process group when it leads one); returns the kill. */
function track(child, group = false) {
  const kill = () => {
    children.delete(kill);
    try {
      if (group) process.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  children.add(kill);
  child.once("exit", () => children.delete(kill));
  return kill;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

// ---- evaluation: the same wire format for every engine

/**
 * The expression every engine evaluates for `fn(arg)`: the function's source
 * called with the JSON of `arg`, awaited, its result (or error) as JSON text,
 * so no protocol's own value serialization is involved.
 */
function expression(source, arg) {
  return `(async () => {
    try { return JSON.stringify({ value: await (${source})(${JSON.stringify(arg) ?? "undefined"}) }); }
    catch (e) { return JSON.stringify({ error: String(e && e.stack || e), message: String(e && e.message || e) }); }
  })()`;
}

function result(text, what) {
  if (typeof text !== "string") throw new Error(`${what}: the page returned no result`);
  const r = JSON.parse(text);
  if ("error" in r) {
    const e = new Error(`in the page: ${r.message}`);
    e.pageStack = r.error;
    throw e;
  }
  return r.value;
}

/**
 * A page from an engine's `evaluateSource(expressionText)` and the rest:
 * evaluate() and waitFor() on top of it, the same for every engine.
 */
function page({ evaluateSource, ...rest }) {
  const evaluate = async (fn, arg) => result(await evaluateSource(expression(fn.toString(), arg)), "evaluate");
  // waitFor: one evaluation that polls in the page (no round trip per poll)
  const waitFor = async (fn, arg, { timeout = 20_000, interval = 25 } = {}) => {
    const poller = `async ({ arg, timeout, interval }) => {
      const predicate = (${fn.toString()});
      const deadline = Date.now() + timeout;
      for (;;) {
        const value = await predicate(arg);
        if (value) return { ok: true, value };
        if (Date.now() > deadline) return { ok: false };
        await new Promise((r) => setTimeout(r, interval));
      }
    }`;
    const r = result(await evaluateSource(expression(poller, { arg, timeout, interval })), "waitFor");
    if (!r.ok) throw new Error(`waitFor timed out after ${timeout} ms: ${fn.toString().slice(0, 200)}`);
    return r.value;
  };
  return { evaluate, waitFor, ...rest };
}

// ---- Chromium: playwright-core

async function launchChromium() {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: PATHS.chromium,
    headless: true,
    // off the network it cannot reach anyway
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    engine: "chromium",
    name: "Chromium",
    version: browser.version(),
    restarts: 0,
    driver: `playwright-core ${(await import("playwright-core/package.json", { with: { type: "json" } })).default.version} (CDP)`,
    async newPage(viewport = DEFAULT_VIEWPORT) {
      const p = await browser.newPage({ viewport });
      return page({
        evaluateSource: (source) => p.evaluate(source),
        goto: async (url) => { await p.goto(url); },
        screenshot: async (path) => { await p.screenshot({ path, fullPage: true }); },
        close: () => p.close(),
      });
    },
    close: () => browser.close(),
  };
}

// ---- Firefox: puppeteer-core over WebDriver BiDi

async function launchFirefox() {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: PATHS.firefox,
    headless: true, // a fresh profile in a temporary folder, removed on close
    extraPrefsFirefox: {
      "app.update.enabled": false,
      "browser.shell.checkDefaultBrowser": false,
      "datareporting.policy.dataSubmissionEnabled": false,
    },
  });
  const version = (await browser.version()).replace(/^firefox\//, "");
  return {
    engine: "firefox",
    name: "Firefox ESR",
    version,
    restarts: 0,
    driver: `puppeteer-core ${(await import("puppeteer-core/package.json", { with: { type: "json" } })).default.version} (WebDriver BiDi)`,
    async newPage(viewport = DEFAULT_VIEWPORT) {
      const p = await browser.newPage();
      await p.setViewport(viewport);
      return page({
        evaluateSource: (source) => p.evaluate(source),
        goto: async (url) => { await p.goto(url); },
        screenshot: async (path) => { await p.screenshot({ path, fullPage: true }); },
        close: () => p.close(),
      });
    },
    close: () => browser.close(),
  };
}

// ---- WebKit: WebKitWebDriver + MiniBrowser on Xvfb, classic W3C WebDriver

/** An X server of our own; resolves with its display once it accepts clients. */
async function startXvfb() {
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "2560x4096x24", "-nolisten", "tcp", "-nolisten", "unix", "-noreset"],
    { stdio: ["ignore", "ignore", "pipe", "pipe"], detached: false });
  const kill = track(xvfb);
  let err = "";
  xvfb.stderr.on("data", (d) => (err += d));
  const display = await new Promise((resolve, reject) => {
    let out = "";
    xvfb.stdio[3].on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(`:${out.trim()}`);
    });
    xvfb.once("exit", (code) => reject(new Error(`Xvfb exited (${code}): ${err.slice(-500)}`)));
    xvfb.once("error", reject);
  });
  return { display, kill };
}

/** WebKitWebDriver on a free loopback port; resolves once /status answers. */
async function startWebKitDriver(display) {
  const port = await freePort();
  // Its own process group: the MiniBrowser and WebKit's helper processes it
  // starts are killed with it.
  const driver = spawn(PATHS.webkitDriver, [`--port=${port}`], {
    stdio: ["ignore", "ignore", "pipe"], detached: true, env: { ...process.env, DISPLAY: display },
  });
  const kill = track(driver, true);
  let err = "";
  driver.stderr.on("data", (d) => (err += d));
  const exited = new Promise((_, reject) => driver.once("exit", (code) => reject(new Error(`WebKitWebDriver exited (${code}): ${err.slice(-500)}`))));
  exited.catch(() => {});
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await Promise.race([fetch(`${base}/status`).then((r) => r.ok, () => false), exited]);
    if (up) break;
    if (Date.now() > deadline) {
      kill();
      throw new Error(`WebKitWebDriver did not start: ${err.slice(-500)}`);
    }
    await sleep(50);
  }
  return { base, kill, pid: driver.pid };
}

async function launchWebKit() {
  const xvfb = await startXvfb();
  let driver;
  try {
    driver = await startWebKitDriver(xvfb.display);
  } catch (e) {
    xvfb.kill();
    throw e;
  }
  const call = async (method, path, body) => {
    const r = await fetch(`${driver.base}${path}`, {
      method, headers: { "content-type": "application/json; charset=utf-8" }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await r.json().catch(() => ({ value: { error: `HTTP ${r.status}`, message: "" } }));
    if (!r.ok) throw new Error(`WebKitWebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
    return json.value;
  };
  const newSession = async () => {
    const session = await call("POST", "/session", {
      capabilities: {
        alwaysMatch: {
          // --automation: MiniBrowser as a WebDriver target (no window chrome, a fresh ephemeral profile)
          "webkitgtk:browserOptions": { binary: PATHS.webkit, args: ["--automation"] },
          pageLoadStrategy: "normal",
          timeouts: { script: 300_000, pageLoad: 60_000, implicit: 0 },
        },
      },
    });
    const s = `/session/${session.sessionId}`;
    return { s, version: session.capabilities.browserVersion, current: await call("GET", `${s}/window`) };
  };
  let session;
  try {
    session = await newSession();
  } catch (e) {
    driver.kill();
    xvfb.kill();
    throw e;
  }
  const version = session.version;
  let closed = false;
  let restarts = 0;

  /** A new window in the session, made current; the previous one closed. */
  const newWindow = async () => {
    const { s } = session;
    const { handle } = await call("POST", `${s}/window/new`, { type: "window" });
    await call("DELETE", `${s}/window`); // the previous one: current until we switch
    await call("POST", `${s}/window`, { handle });
    session.current = handle;
    return { s, handle };
  };

  // One page at a time: a new page is a new window (WebKit's new-window
  // command), made current; the previous window then goes. (Closing the last
  // window would end the session, so a closed page is left blank instead.)
  // When WebKit loses a page's web process (a crash, or a page it takes for
  // hung: README, "WebKit's cold-page fault") the session goes with it; the
  // next page then starts a new session, and `restarts` counts them.
  return {
    engine: "webkit",
    name: "WebKitGTK",
    version,
    driver: "WebKitWebDriver (W3C WebDriver)",
    get restarts() {
      return restarts;
    },
    /** The process group of the driver and everything it starts (the MiniBrowser, WebKit's web processes). */
    processGroup: driver.pid,
    async newPage(viewport = DEFAULT_VIEWPORT) {
      let s, handle;
      try {
        ({ s, handle } = await newWindow());
      } catch (lost) {
        // The session is lost or failing (first "unknown error", then "invalid session id"): a new
        // one, once per page.
        if (closed) throw lost;
        await Promise.race([call("DELETE", session.s).catch(() => {}), sleep(5_000)]);
        session = await newSession();
        restarts++;
        ({ s, handle } = await newWindow());
      }
      let size; // the viewport it got
      const pg = page({
        evaluateSource: async (source) => call("POST", `${s}/execute/async`, {
          script: `const done = arguments[arguments.length - 1]; (${source}).then(done);`,
          args: [],
        }),
        goto: async (url) => { await call("POST", `${s}/url`, { url }); },
        async screenshot(path) {
          // WebDriver's screenshots are of the viewport (an element's too, clipped to it): for
          // the whole document the window grows to the document's height for the shot.
          const h = await pg.evaluate(() => Math.ceil(document.documentElement.scrollHeight));
          if (h > size.height) await setWebKitViewport(call, s, pg, { width: size.width, height: h });
          try {
            // painted at the new size: two animation frames, then a moment for the compositor
            await pg.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 100)))));
            writeFileSync(path, Buffer.from(await call("GET", `${s}/screenshot`), "base64"));
          } finally {
            if (h > size.height) await setWebKitViewport(call, s, pg, size);
          }
        },
        async close() {
          if (!closed && session.current === handle) await call("POST", `${s}/url`, { url: "about:blank" }).catch(() => {});
        },
      });
      size = await setWebKitViewport(call, s, pg, viewport);
      return pg;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.race([call("DELETE", session.s).catch(() => {}), sleep(5_000)]);
      driver.kill();
      xvfb.kill();
    },
  };
}

/**
 * Sizes the window so that the page's viewport (innerWidth x innerHeight) is
 * `viewport`, or as near as the window allows; resolves with what it got.
 */
async function setWebKitViewport(call, s, page, viewport) {
  let { width, height } = viewport;
  let inner;
  for (let i = 0; i < 3; i++) {
    await call("POST", `${s}/window/rect`, { width, height });
    inner = await page.evaluate(() => ({ width: window.innerWidth, height: window.innerHeight }));
    if (inner.width === viewport.width && inner.height === viewport.height) break;
    width += viewport.width - inner.width;
    height += viewport.height - inner.height;
  }
  return inner;
}

/**
 * A browser of `engine` ("chromium" | "firefox" | "webkit").
 * @returns {Promise<import("./browsers.d.mts").Browser>}
 */
export async function launch(engine) {
  if (engine === "chromium") return launchChromium();
  if (engine === "firefox") return launchFirefox();
  if (engine === "webkit") return launchWebKit();
  throw new TypeError(`unknown browser engine: ${engine}`);
}
