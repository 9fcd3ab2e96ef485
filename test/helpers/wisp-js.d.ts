// The parts of @mercuryworkshop/wisp-js's server (it ships no types) that the tests use.
declare module "@mercuryworkshop/wisp-js/server" {
  import type { IncomingMessage } from "node:http";
  import type { Duplex } from "node:stream";
  export const server: {
    routeRequest(request: IncomingMessage, socket: Duplex, head: Buffer): void;
    options: {
      allow_loopback_ips: boolean;
      allow_private_ips: boolean;
      port_blacklist: (number | [number, number])[] | null;
      hostname_whitelist: RegExp[] | null;
      [option: string]: unknown;
    };
  };
  export const logging: { set_level(level: number): void; NONE: number; DEBUG: number };
}
