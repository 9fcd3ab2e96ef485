// Types for static-server.mjs.
import type { Server } from "node:http";
export function serveDirectory(root: string): Promise<{ url: string; server: Server }>;
