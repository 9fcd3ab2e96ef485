// Types for browsers.mjs (what the browser tests and bench/browser.mjs use).
export type Engine = "chromium" | "firefox" | "webkit";
export const ENGINES: readonly Engine[];
export const PATHS: { chromium: string; firefox: string; webkit: string; webkitDriver: string };
export const DEFAULT_VIEWPORT: Viewport;

export interface Viewport {
  width: number;
  height: number;
}

export interface Page {
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>;
  /**
   * Runs `fn(arg)` in the page (its source is sent, so it must not close
   * over anything in Node) and resolves with its awaited result. Argument and
   * result go as JSON; an error thrown in the page rejects with its message.
   */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<Awaited<R>>;
  /** Polls `fn(arg)` in the page until it returns something truthy, which it resolves with. */
  waitFor<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A, options?: { timeout?: number; interval?: number }): Promise<Awaited<R>>;
  /** A PNG of the whole document. */
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

export interface Browser {
  engine: Engine;
  /** "Chromium", "Firefox ESR", "WebKitGTK" */
  name: string;
  version: string;
  /** What drives it, and over which protocol. */
  driver: string;
  /**
   * How many times a lost browser session was replaced by a new one (WebKit:
   * when its web process crashed or was taken for hung, `newPage()` starts a
   * new session); 0 elsewhere.
   */
  readonly restarts: number;
  /** WebKit: the process group of its driver, the MiniBrowser and WebKit's own processes. */
  processGroup?: number;
  /**
   * A new page whose viewport is `viewport` (default 1280 x 800). WebKit's
   * MiniBrowser window has a minimum width, so a narrower viewport there is
   * as narrow as it gets: read `innerWidth` to know.
   */
  newPage(viewport?: Viewport): Promise<Page>;
  /** Closes the browser and kills every process it started. */
  close(): Promise<void>;
}

export function launch(engine: Engine): Promise<Browser>;
