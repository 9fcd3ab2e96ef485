/**
 * The package as npm would publish it: `npm pack` of the built repository
 * into a folder of the caller's, and what went into the tarball.
 */
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

export const root = resolve(import.meta.dirname, "../..");

export interface Packed {
  /** Absolute path of the .tgz. */
  file: string;
  /** Bytes of the .tgz, and of its files unpacked. */
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

/**
 * The environment for an npm child process: the caller's npm configuration
 * (registry, cache, certificates) without what `npm exec`/`npm run` tell
 * their children about *this* project (npm_config_local_prefix would make a
 * nested `npm install` install into the repository).
 */
export function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase();
    if (key.startsWith("npm_") && (!key.startsWith("npm_config_") || key === "npm_config_local_prefix")) continue;
    env[k] = v;
  }
  return { ...env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false", ...extra };
}

/** Packs the repository (already built by `make`) into `dir`. */
export async function pack(dir: string): Promise<Packed> {
  const { stdout } = await promisify(execFile)("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: root, env: npmEnv(), timeout: 120_000, maxBuffer: 16 << 20,
  });
  const [result] = JSON.parse(stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string; size: number }[] }[];
  return { file: join(dir, result!.filename), size: result!.size, unpackedSize: result!.unpackedSize, files: result!.files };
}
