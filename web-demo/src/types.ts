// Messages between the page and the TLS session, which runs on the main
// thread or in a Worker (the same code either way: src/session.ts).
import type { CertificateSummary } from "openssl-tls-wasm";

export interface DemoServer {
  id: string;
  label: string;
  port: number;
  /** "echo": echoes lines ("/close" makes it close first); "www": openssl s_server -www */
  kind: "echo" | "www";
}

export interface DemoConfig {
  tunnel: string;
  servers: DemoServer[];
  caPem: string;
  servername: string;
  /** The page's origin, for the kill endpoint. */
  origin: string;
  /** The HTTPS server for the fetch panel, by the certificate's host name (servername). */
  httpsUrl: string;
  /** The wss:// echo server for the TlsWebSocket panel, likewise. */
  wssUrl: string;
}

export type CloseMode = "bidirectional" | "unidirectional" | "quiet" | "peer" | "kill";

export interface ConnectOptions {
  serverId: string;
  version: "auto" | "TLSv1.2" | "TLSv1.3";
  /** Groups offered, in order, separated by ":" (the post-quantum hybrid first by default). */
  groups: string;
  alpn: string;
  verify: boolean;
  resume: boolean;
}

export type Command =
  | { type: "connect"; config: DemoConfig; options: ConnectOptions }
  | { type: "send"; text: string }
  | { type: "http" }
  | { type: "close"; mode: CloseMode };


export interface HandshakeView {
  protocol: string;
  cipher: string;
  group: string | null;
  alpnProtocol: string | null;
  sessionReused: boolean;
  verifyResult: number;
  verifyResultString: string;
  verified: boolean;
  /** "verified" | "failed" | "no certificate" | "disabled" (verify off: nothing was checked) */
  verification: string;
  ms: number;
  chain: CertificateSummary[];
  thread: "main thread" | "Worker";
}

export type TimelineKind = "call" | "alert-sent" | "alert-received" | "transport" | "verdict";

export type DemoEvent =
  | { type: "connected"; view: HandshakeView }
  | { type: "data"; text: string }
  | { type: "timeline"; kind: TimelineKind; text: string; detail?: string }
  | { type: "closed"; verdict: string; ending: string; sessionSaved: boolean; resumable: boolean }
  | { type: "error"; title: string; message: string }
  | { type: "busy"; busy: boolean };
