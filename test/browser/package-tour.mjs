// The package's public API in a browser engine, both ends in one page (or
// Worker), over memoryPair(): what a user would try, to find what an engine
// lacks. Each part returns plain facts for the test runner to assert
// (test/browser/runtime.test.ts); nothing here judges.
// Plain JavaScript over bindings/dist, so every engine loads it as is.

const text = (s) => new TextEncoder().encode(s);
const str = (b) => new TextDecoder().decode(b);
const nameOf = (e) => (e && typeof e === "object" ? e.name : String(e));

/**
 * @param {any} lib  the package's exports
 * @param {{ server: { certPem: string, keyPem: string }, client: { certPem: string, keyPem: string }, servername: string }} ids
 */
export async function tour(lib, ids) {
  const { OpenSSL, TlsSocket, TlsSession, memoryPair } = lib;
  const ossl = await OpenSSL.load();
  const { servername } = ids;
  const out = {
    engineGlobals: {
      readableStreamAsyncIterator: typeof ReadableStream.prototype[Symbol.asyncIterator] === "function",
      symbolDispose: typeof Symbol.dispose === "symbol",
      promiseWithResolvers: typeof Promise.withResolvers === "function",
      abortSignalAny: typeof AbortSignal.any === "function",
      uint8ArrayFromBase64: typeof Uint8Array.fromBase64 === "function",
      compileStreaming: typeof WebAssembly.compileStreaming === "function",
    },
    version: ossl.version,
  };

  // ---- the engine, as the README's first example (dispose() where it says `using`)
  {
    const ctx = ossl.createContext({ role: "client", ca: ids.server.certPem });
    const sctx = ossl.createContext({ role: "server", cert: ids.server.certPem, key: ids.server.keyPem });
    const conn = ctx.createConnection({ servername });
    const srv = sctx.createConnection();
    const pump = (from, to) => {
      const b = from.drain();
      if (b.length) to.feed(b);
    };
    const first = conn.handshake();
    let done = false;
    for (let i = 0; i < 16 && !done; i++) {
      pump(conn, srv);
      srv.handshake();
      pump(srv, conn);
      done = conn.handshake().ret === 1;
    }
    conn.write(text("engine hello"));
    pump(conn, srv);
    const read = srv.read();
    const sd0 = conn.shutdown();
    pump(conn, srv);
    srv.read(); // zero_return: the client's close_notify
    srv.shutdown();
    pump(srv, conn);
    conn.read();
    const sd1 = conn.shutdown();
    const info = conn.info;
    // `using` calls [Symbol.dispose]: where the engine has none, the package keys it by
    // Symbol.for("Symbol.dispose") (what esbuild's, Babel's and oxc's `using` look up), never "undefined"
    const disposeMethod = typeof conn[Symbol.dispose ?? Symbol.for("Symbol.dispose")];
    const undefinedKey = "undefined" in conn;
    conn.dispose();
    let useAfterFree = null;
    try {
      conn.handshake();
    } catch (e) {
      useAfterFree = nameOf(e);
    }
    srv.dispose();
    ctx.dispose();
    sctx.dispose();
    out.engine = {
      first: `${first.ret} ${first.sslError}`, handshakeDone: done, protocol: info.protocol, group: info.group,
      verifyResult: info.verifyResult, read: str(read.data ?? new Uint8Array()),
      shutdown: [sd0.ret, sd1.ret], disposeMethod, undefinedKey, useAfterFree,
    };
  }

  // ---- TlsSocket over memoryPair: client certificates, ALPN, the README's `for await` loop, sessions
  const serverCtx = ossl.createContext({
    role: "server", cert: ids.server.certPem, key: ids.server.keyPem, alpnProtocols: ["h2", "http/1.1"],
    clientCertificate: "require", ca: ids.client.certPem,
  });
  const clientCtx = ossl.createContext({
    role: "client", ca: ids.server.certPem, cert: ids.client.certPem, key: ids.client.keyPem, alpnProtocols: ["http/1.1"],
  });
  /** A client and a server TlsSocket, connected. */
  const pair = async (options = {}) => {
    const [a, b] = memoryPair();
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, { context: clientCtx, servername, keepSession: true, ...options }),
      TlsSocket.accept(b, { context: serverCtx }),
    ]);
    return { client, server };
  };

  {
    const { client, server } = await pair();
    const info = client.info;
    const chunks = ["one ", "two ", "three"];
    const serving = (async () => {
      const w = server.writable.getWriter();
      for (const c of chunks) await w.write(text(c));
      w.releaseLock();
      return server.shutdown({ mode: "bidirectional" });
    })();
    let received = "", n = 0;
    for await (const chunk of client.readable) {
      received += str(chunk);
      n++;
    }
    const report = await client.shutdown({ mode: "bidirectional" });
    const serverReport = await serving;
    const closed = await client.closed;
    out.loop = {
      protocol: info.protocol, alpn: info.alpnProtocol, group: info.group, verifyResult: info.verifyResult,
      serverSawClientCert: server.info.peerCertificate?.subject ?? null,
      received, chunks: n, ending: closed.ending, serverEnding: serverReport.ending, lockedAfter: client.readable.locked,
      ownIterator: Object.getOwnPropertySymbols(client.readable).includes(Symbol.asyncIterator),
    };

    // resumption from the kept session, exported and imported as bytes
    const bytes = closed.session.export();
    closed.session.dispose();
    const session = TlsSession.import(ossl, bytes);
    const again = await pair({ session });
    out.resumed = { exportedBytes: bytes.length, sessionReused: again.client.info.sessionReused };
    await Promise.all([again.client.shutdown({ mode: "bidirectional" }), again.server.shutdown({ mode: "bidirectional" })]);
    (await again.client.closed).session?.dispose();
    session.dispose();
  }

  // ---- leaving the loop early cancels the readable (and unlocks it)
  {
    const { client, server } = await pair();
    const w = server.writable.getWriter();
    await w.write(text("first"));
    let got = "";
    for await (const chunk of client.readable) {
      got = str(chunk);
      break;
    }
    out.breakEarly = { got, lockedAfter: client.readable.locked };
    await client.destroy();
    await server.destroy();
  }

  // ---- the transport ends without close_notify: the loop rejects with TlsTruncationError
  {
    const { client, server } = await pair();
    await server.shutdown({ mode: "quiet" }); // the server closes the transport without close_notify
    let error = null;
    try {
      for await (const _ of client.readable) { /* nothing comes */ }
    } catch (e) {
      error = nameOf(e);
    }
    out.truncation = { error, ending: (await client.closed).ending };
    await client.destroy();
  }

  // ---- failures the user sees: verification, an AbortSignal, the handshake timeout
  {
    const [a, b] = memoryPair();
    const other = ossl.createContext({ role: "client", ca: ids.client.certPem });
    const [c, s] = await Promise.allSettled([
      TlsSocket.connect(a, { context: other, servername }),
      TlsSocket.accept(b, { context: ossl.createContext({ role: "server", cert: ids.server.certPem, key: ids.server.keyPem }) }),
    ]);
    out.verification = {
      error: c.status === "rejected" ? nameOf(c.reason) : "connected",
      verifyResult: c.reason?.verifyResult, serverSide: s.status,
    };
  }
  {
    const [a] = memoryPair(); // nobody answers
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("aborted by the page")), 50);
    const r = await TlsSocket.connect(a, { context: clientCtx, servername, signal: controller.signal }).then(() => "connected", (e) => e.message);
    const [t] = memoryPair();
    const timeout = await TlsSocket.connect(t, { context: clientCtx, servername, handshakeTimeout: 100 })
      .then(() => "connected", (e) => `${nameOf(e)} ${e.phase}`);
    out.failures = { abort: r, timeout };
  }

  // ---- the default root store (fetched from wasm/dist), verifyCertificate, RAND_bytes
  {
    const roots = await OpenSSL.loadDefaultRoots();
    const self = ossl.verifyCertificate(ids.server.certPem, { ca: ids.server.certPem });
    const byDefault = ossl.verifyCertificate(ids.server.certPem, { ca: "default" });
    const random = ossl.randomBytes(lib.MAX_IO);
    out.roots = { count: roots.count, selfOk: self.ok, defaultResult: byDefault.verifyResultString, randomNonZero: random.some((x) => x !== 0) };
  }

  serverCtx.dispose();
  clientCtx.dispose();
  return out;
}
