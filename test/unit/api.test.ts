// The engine's 1.0 surface: read-only state, ownership by method
// (getSession()), per-connection options OpenSSL has per connection, a
// listener's exception as the cause of the failure it caused, one memoized
// load, and a module graph without import cycles.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as api from "../../bindings/src/index.js";
import { constants as C, OpenSSL, TlsSession } from "../../bindings/src/index.js";
import { Pair, SERVER_NAME, expectHeapRestoredAfterEach, expectResult, warmUp, type PairOptions } from "../helpers/harness.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
  warmUp(ossl);
});

const live: Pair[] = [];
const pair = (o: PairOptions = {}) => {
  const p = new Pair(ossl, o);
  live.push(p);
  return p;
};
// Every test frees what it made: the heap comes back (harness.ts).
expectHeapRestoredAfterEach(() => ossl, () => {
  while (live.length) live.pop()!.dispose();
});

describe("read-only state", () => {
  it("context and connection state cannot be assigned (getters only)", () => {
    const p = pair({ client: { verify: false, ca: "none" } });
    p.handshake();
    const set = (o: object, k: string) => () => { (o as Record<string, unknown>)[k] = true; };
    for (const k of ["verificationDisabled", "collectsSessions", "ocsp"]) expect(set(p.cctx, k), k).toThrow(TypeError);
    for (const k of ["closeNotifySent", "closeNotifyReceived", "fatalError", "callbackError", "verifyFailure", "ocspStatus"]) {
      expect(set(p.client, k), k).toThrow(TypeError);
    }
    expect(p.client.info.verification).toBe("disabled");
  });

  it("the runtime (heap helpers, FFI dispatch) is not part of the package's exports", () => {
    const names = Object.keys(api);
    for (const internal of ["Runtime", "runtimeOf", "bindRuntime"]) expect(names).not.toContain(internal);
    const o = ossl as unknown as Record<string, unknown>;
    for (const helper of ["malloc", "free", "heap", "slot", "u32", "withCString", "drainErrors", "connections"]) expect(o[helper], helper).toBeUndefined();
  });
});

describe("ownership", () => {
  it("getSession() returns a new owned reference each call; disposing one leaves the other usable", () => {
    const p = pair();
    p.handshake();
    expect("session" in p.client).toBe(false); // a method, not a getter that leaks
    const a = p.client.getSession()!;
    const b = p.client.getSession()!;
    expect(a).not.toBe(b);
    a.dispose();
    expect(a.disposed).toBe(true);
    expect(b.protocolVersion).toBe(C.TLS1_3_VERSION);
    b.dispose();
  });

  it("a session of another OpenSSL instance is refused (TypeError), not handed to the wrong heap", async () => {
    const other = await OpenSSL.instantiate();
    const p = pair();
    p.handshake();
    p.closeCleanly();
    using s = p.client.getSession()!;
    const foreign = TlsSession.import(other, s.export());
    const octx = other.createContext({ role: "client", ca: "none", verify: false });
    try {
      expect(() => p.cctx.createConnection({ session: foreign })).toThrow(/another OpenSSL instance/);
      expect(() => octx.createConnection({ session: s })).toThrow(/another OpenSSL instance/);
    } finally {
      foreign.dispose();
      octx.dispose();
    }
  });
});

describe("per-connection options", () => {
  it("ignoreUnexpectedEof on one connection (SSL_set_options): its EOF reads as ZERO_RETURN, a sibling's as truncation", () => {
    const lenient = pair({ clientConnection: { servername: SERVER_NAME, ignoreUnexpectedEof: true } });
    const strict = pair({ clientContext: lenient.cctx });
    for (const p of [lenient, strict]) {
      p.handshake();
      p.client.closeInput();
    }
    expect(lenient.client.options & C.SSL_OP_IGNORE_UNEXPECTED_EOF).toBe(C.SSL_OP_IGNORE_UNEXPECTED_EOF);
    expect(lenient.cctx.options & C.SSL_OP_IGNORE_UNEXPECTED_EOF).toBe(0n);
    expectResult(lenient.client.read(), 0, "zero_return");
    expectResult(strict.client.read(), 0, "ssl", C.SSL_R_UNEXPECTED_EOF_WHILE_READING);
  });

  it("outputCapacity: Infinity is accepted at creation and can be lowered later", () => {
    const p = pair({ clientConnection: { servername: SERVER_NAME, outputCapacity: Infinity } });
    p.handshake();
    expect(p.client.write(new Uint8Array(100_000)).ret).toBe(100_000);
    p.client.drain();
    p.client.setOutputCapacity(0);
    expectResult(p.client.write(new Uint8Array(10)), -1, "want_write");
    expect(() => p.client.setOutputCapacity(-1)).toThrow(RangeError);
    expect(() => p.client.setOutputCapacity(Number.NaN)).toThrow(RangeError);
  });

  it("checkHost: false verifies the chain but not the name; a wrong checkHost fails verification", () => {
    const noName = pair({ clientConnection: { servername: "elsewhere.test", checkHost: false } });
    noName.handshake();
    expect(noName.client.info.verification).toBe("verified");
    const wrong = pair({ clientConnection: { servername: SERVER_NAME, checkHost: "elsewhere.test" } });
    let r = wrong.client.handshake();
    for (let i = 0; i < 10 && r.ret !== 1 && r.sslError === "want_read"; i++) {
      wrong.toServer();
      wrong.server.handshake();
      wrong.toClient();
      r = wrong.client.handshake();
    }
    expectResult(r, -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
    expect(wrong.client.info.verifyResult).toBe(C.X509_V_ERR_HOSTNAME_MISMATCH);
  });
});

describe("a listener's exception", () => {
  it("thrown by onVerify: the handshake's failure has it as its cause, and callbackError holds it", () => {
    const boom = new Error("policy check blew up");
    const p = pair({ clientConnection: { servername: SERVER_NAME, onVerify: () => { throw boom; } } });
    let r = p.client.handshake();
    for (let i = 0; i < 10 && r.sslError === "want_read"; i++) {
      p.toServer();
      p.server.handshake();
      p.toClient();
      r = p.client.handshake();
    }
    expectResult(r, -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
    expect(r.failure!.cause).toBe(boom);
    expect(p.client.callbackError).toBe(boom);
  });
});

describe("OpenSSL.load()", () => {
  it("memoizes one instance; a different wasm source is refused instead of ignored", async () => {
    expect(await OpenSSL.load()).toBe(ossl);
    await expect(OpenSSL.load({ wasm: new Uint8Array([0, 97, 115, 109]) })).rejects.toThrow(/already loaded from another wasm source/);
    expect(await OpenSSL.load({})).toBe(ossl);
  });
});

describe("module graph", () => {
  it("bindings/dist has no import cycle (static imports, value and type-only alike)", () => {
    const root = resolve(import.meta.dirname, "../../bindings/dist");
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".js")) files.push(p);
      }
    };
    walk(root);
    const deps = new Map<string, string[]>();
    for (const f of files) {
      const src = readFileSync(f, "utf8");
      const out = [...src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms)].map((m) => resolve(dirname(f), m[1]!));
      deps.set(f, out.filter((d) => d.startsWith(root)));
    }
    const state = new Map<string, "visiting" | "done">();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "visiting") {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => p.slice(root.length + 1)).join(" -> "));
        return;
      }
      state.set(f, "visiting");
      for (const d of deps.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, "done");
    };
    for (const f of files) visit(f, []);
    expect(files.length).toBeGreaterThan(20);
    expect(cycles).toEqual([]);
  });
});
