// The TLS session behind the page: the real wasm OpenSSL, through the
// tunnel, reporting every step. Runs on the main thread or in a Worker.
import {
  CertificateVerificationError, OpenSSL, TlsSocket, TlsTruncationError, WebSocketClosedError, connectWebSocket,
  type TlsSession, type TraceEvent,
} from "openssl-tls-wasm";
import type { Command, ConnectOptions, DemoConfig, DemoEvent } from "./types";

const ERROR_NAMES: Record<string, string> = {
  none: "SSL_ERROR_NONE", ssl: "SSL_ERROR_SSL", want_read: "SSL_ERROR_WANT_READ", want_write: "SSL_ERROR_WANT_WRITE",
  syscall: "SSL_ERROR_SYSCALL", zero_return: "SSL_ERROR_ZERO_RETURN",
};
const VERDICTS: Record<string, string> = {
  clean: "clean two-way close", "one-way": "one-way close", truncated: "truncated", error: "error",
};

function flags(state: { sent: boolean; received: boolean }): string {
  const f = [state.sent && "SSL_SENT_SHUTDOWN", state.received && "SSL_RECEIVED_SHUTDOWN"].filter(Boolean);
  return f.length ? f.join(" | ") : "0";
}

/** A human sentence for what failed. */
export function describeError(e: unknown): { title: string; message: string } {
  if (e instanceof TlsTruncationError) {
    const cause = e.cause instanceof WebSocketClosedError ? ` (${e.cause.reason || `WebSocket close ${e.cause.code}`})` : "";
    return { title: "Connection truncated", message: `The transport ended without a TLS close_notify: the data may be incomplete${cause}.` };
  }
  // A transport failure is the real story behind a failed handshake.
  for (let c = (e as Error)?.cause; c; c = (c as Error).cause) {
    if (c instanceof WebSocketClosedError) return describeError(c);
  }
  if (e instanceof CertificateVerificationError) {
    return { title: "Certificate verification failed", message: `${e.verifyResultString} (depth ${e.depth}, ${e.subject})` };
  }
  if (e instanceof WebSocketClosedError) {
    const why = e.code === 1008 ? "The tunnel refused the connection" : e.code === 4002 ? "The server cannot be reached" : "The tunnel closed the connection";
    return { title: why, message: `${e.reason || "no reason given"} (WebSocket close ${e.code})` };
  }
  const err = e as Error;
  return { title: err?.name ?? "Error", message: err?.message ?? String(e) };
}

export function createSession(emit: (e: DemoEvent) => void, thread: "main thread" | "Worker") {
  let socket: TlsSocket | undefined;
  let config: DemoConfig | undefined;
  let saved: TlsSession | undefined;
  let kind: "echo" | "www" = "echo";
  const encoder = new TextEncoder();

  const trace = (e: TraceEvent) => {
    if (e.type === "call") {
      const error = e.call === "SSL_shutdown" && e.ret >= 0 ? "" : ` ${ERROR_NAMES[e.sslError] ?? e.sslError}`;
      const meaning = e.call === "SSL_shutdown" && e.ret === 0 ? " (close_notify sent, waiting for the peer's)" : "";
      emit({ type: "timeline", kind: "call", text: `${e.call}() = ${e.ret}${error}${meaning}`,
        detail: `SSL_get_shutdown: ${flags(e.state)}${e.reason ? `; reason: ${e.reason}` : ""}` });
    } else if (e.type === "alert") {
      emit({ type: "timeline", kind: e.direction === "sent" ? "alert-sent" : "alert-received", text: `${e.level} alert ${e.direction}: ${e.name}` });
    } else if (e.type === "transport") {
      const text = { eof: "transport: the peer finished sending (EOF)", error: "transport: broken", closed: "transport: closed by us", aborted: "transport: aborted" }[e.event];
      emit({ type: "timeline", kind: "transport", text, ...(e.detail ? { detail: e.detail } : {}) });
    }
  };

  async function connect(cfg: DemoConfig, o: ConnectOptions) {
    config = cfg;
    const server = cfg.servers.find((s) => s.id === o.serverId);
    if (!server) throw new Error(`unknown server ${o.serverId}`);
    kind = server.kind;
    await socket?.destroy();
    const ossl = await OpenSSL.load();
    const transport = await connectWebSocket(`${cfg.tunnel}/127.0.0.1:${server.port}`);
    const started = performance.now();
    const versions = o.version === "auto" ? {} : { minVersion: o.version, maxVersion: o.version };
    const alpn = o.alpn.split(",").map((s) => s.trim()).filter(Boolean);
    socket = await TlsSocket.connect(transport, {
      openssl: ossl, ...versions, groups: o.groups, ca: o.verify ? cfg.caPem : "none", servername: cfg.servername, verify: o.verify,
      ...(alpn.length ? { alpnProtocols: alpn } : {}), ...(o.resume && saved ? { session: saved } : {}),
      // The page shows resumption explicitly (the saved session), so no automatic reuse.
      keepSession: true, reuseSessions: false, onTrace: trace,
    });
    const info = socket.info;
    emit({
      type: "connected",
      view: {
        protocol: info.protocol, cipher: info.cipher, group: info.group, alpnProtocol: info.alpnProtocol, sessionReused: info.sessionReused,
        verifyResult: info.verifyResult, verifyResultString: info.verifyResultString, verified: info.verification === "verified", verification: info.verification,
        ms: Math.round(performance.now() - started), chain: socket.peerChain, thread,
      },
    });
    const current = socket;
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of current.readable) emit({ type: "data", text: decoder.decode(chunk, { stream: true }) });
        // The peer's close_notify: answer it (SSL_shutdown returns 1).
        await current.shutdown({ mode: "unidirectional" }).catch(() => {});
      } catch (e) {
        emit({ type: "error", ...describeError(e) });
      }
    })();
    void current.closed.then((c) => {
      // Keep the latest session even when OpenSSL marked it not resumable:
      // offering it again shows that OpenSSL will not resume it.
      if (c.session) {
        saved?.dispose();
        saved = c.session;
      }
      emit({ type: "timeline", kind: "verdict", text: `verdict: ${VERDICTS[c.ending]}`, detail: `SSL_get_shutdown: ${flags(c.state)}` });
      emit({ type: "closed", verdict: VERDICTS[c.ending] ?? c.ending, ending: c.ending, sessionSaved: !!saved, resumable: !!saved?.resumable });
    });
  }

  return async (cmd: Command): Promise<void> => {
    emit({ type: "busy", busy: true });
    try {
      if (cmd.type === "connect") await connect(cmd.config, cmd.options);
      else if (!socket) throw new Error("not connected");
      else if (cmd.type === "send") {
        const w = socket.writable.getWriter();
        try {
          await w.write(encoder.encode(cmd.text.endsWith("\n") ? cmd.text : `${cmd.text}\n`));
        } finally {
          w.releaseLock();
        }
      }
      else if (cmd.type === "http") {
        const w = socket.writable.getWriter();
        await w.write(encoder.encode(`GET / HTTP/1.1\r\nHost: ${config!.servername}\r\nConnection: close\r\n\r\n`));
        w.releaseLock();
      } else if (cmd.type === "close") {
        const s = socket;
        if (cmd.mode === "kill") {
          emit({ type: "timeline", kind: "transport", text: "the tunnel drops the TCP connection (no close_notify)" });
          await fetch(`${config!.origin}/api/kill`, { method: "POST" });
        } else if (cmd.mode === "peer") {
          const w = s.writable.getWriter();
          await w.write(encoder.encode(kind === "www" ? `GET / HTTP/1.0\r\n\r\n` : "/close\n"));
          w.releaseLock();
        } else {
          await s.shutdown({ mode: cmd.mode });
        }
      }
    } catch (e) {
      emit({ type: "error", ...describeError(e) });
    } finally {
      emit({ type: "busy", busy: false });
    }
  };
}
