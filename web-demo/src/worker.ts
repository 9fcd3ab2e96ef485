// The TLS session in a Worker: the page posts commands, we post events.
import { createSession } from "./session";
import type { Command, DemoEvent } from "./types";

const run = createSession((e: DemoEvent) => self.postMessage(e), "Worker");
self.onmessage = (e: MessageEvent<Command>) => void run(e.data);
