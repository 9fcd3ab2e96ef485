// The tunnel's allow rules for the open web (issue 13): subdomain patterns
// (*.example.org:443) and public rules (public:443), which resolve a name,
// refuse it unless every address is public unicast, and connect to the
// checked address. Without the internet: resolvers and the address check
// are injected, the allowed path reaches a loopback echo server that an
// injected check calls public, and a tripwire on net.Socket#connect fails
// the file if anything dials an address other than loopback.
import { once } from "node:events";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { closeReason } from "../../bindings/src/tunnel/close.js";
import { isAllowed, needsAddressCheck, parseAllowRule } from "../../bindings/src/tunnel/destination.js";
import { isPublicAddress, whyNotPublic } from "../../bindings/src/tunnel/public-address.js";
import { screenHost } from "../../bindings/src/tunnel/resolve.js";
import { createTunnel, type Tunnel, type TunnelEvent } from "../../bindings/src/tunnel/tunnel.js";
import { waitFor } from "../helpers/streams.js";

/** Every address anything in this file dialled, and the ones that were not loopback (refused by the tripwire). */
const dialled: string[] = [];
const strays: string[] = [];
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const realConnect = net.Socket.prototype.connect;

/** The options object of a Socket#connect call, in any of its forms. */
function connectTarget(args: unknown[]): { host?: string; port?: unknown; path?: string } {
  const first = args[0];
  if (Array.isArray(first)) return (first[0] ?? {}) as { host?: string };
  if (typeof first === "object" && first !== null) return first as { host?: string };
  return { port: first, host: typeof args[1] === "string" ? args[1] : undefined };
}

beforeAll(() => {
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const { host = "localhost", port, path } = connectTarget(args);
    if (path === undefined) {
      dialled.push(`${host} ${String(port)}`);
      if (!LOOPBACK.has(host)) {
        strays.push(`${host}:${String(port)}`);
        throw new Error(`test tripwire: a connection to ${host}:${String(port)}, which is not loopback`);
      }
    }
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
});
afterAll(() => {
  net.Socket.prototype.connect = realConnect;
  expect(strays).toEqual([]); // nothing left the machine, or tried to
});

/** Opens a ws client, sends `send` once open (if any), closes after the first reply; its data and close code/reason. */
function session(url: string, send?: string) {
  return new Promise<{ data: string; code: number; reason: string }>((resolve) => {
    const ws = new WebSocket(url);
    let data = "";
    ws.on("open", () => send !== undefined && ws.send(Buffer.from(send)));
    ws.on("message", (d: Buffer) => {
      data += d.toString();
      if (send !== undefined && data.length >= send.length) ws.close(1000);
    });
    ws.on("close", (code, reason) => resolve({ data, code, reason: reason.toString() }));
    ws.on("error", () => {});
  });
}


const L = "ffff:ffff:ffff:ffff:ffff:ffff:ffff"; // seven groups of ones, for the last address of a range

/**
 * The address check, range by range: the first and last address of each
 * (and a few inside), and the addresses just outside it, which are public
 * (null) or belong to what the reason names. The reason must contain the
 * string given.
 */
const ADDRESSES: [address: string, reason: string | null][] = [
  // IPv4
  ["0.0.0.0", "\"this network\" (0.0.0.0/8)"], ["0.255.255.255", "\"this network\" (0.0.0.0/8)"], ["1.0.0.0", null],
  ["9.255.255.255", null], ["10.0.0.0", "private (10.0.0.0/8)"], ["10.255.255.255", "private (10.0.0.0/8)"], ["11.0.0.0", null],
  ["100.63.255.255", null], ["100.64.0.0", "CGNAT) (100.64.0.0/10)"], ["100.127.255.255", "CGNAT) (100.64.0.0/10)"], ["100.128.0.0", null],
  ["126.255.255.255", null], ["127.0.0.0", "loopback (127.0.0.0/8)"], ["127.0.0.1", "loopback"], ["127.255.255.255", "loopback (127.0.0.0/8)"], ["128.0.0.0", null],
  ["169.253.255.255", null], ["169.254.0.0", "link-local (169.254.0.0/16)"], ["169.254.255.255", "link-local (169.254.0.0/16)"], ["169.255.0.0", null],
  ["169.254.169.253", "link-local"], ["169.254.169.254", "cloud metadata (169.254.169.254/32)"], ["169.254.169.255", "link-local"],
  ["172.15.255.255", null], ["172.16.0.0", "private (172.16.0.0/12)"], ["172.31.255.255", "private (172.16.0.0/12)"], ["172.32.0.0", null],
  ["191.255.255.255", null], ["192.0.0.0", "IETF protocol assignments (192.0.0.0/24)"], ["192.0.0.255", "(192.0.0.0/24)"], ["192.0.1.0", null],
  ["192.0.1.255", null], ["192.0.2.0", "documentation (192.0.2.0/24)"], ["192.0.2.255", "documentation (192.0.2.0/24)"], ["192.0.3.0", null],
  ["192.167.255.255", null], ["192.168.0.0", "private (192.168.0.0/16)"], ["192.168.255.255", "private (192.168.0.0/16)"], ["192.169.0.0", null],
  ["198.17.255.255", null], ["198.18.0.0", "benchmarking (198.18.0.0/15)"], ["198.19.255.255", "benchmarking (198.18.0.0/15)"], ["198.20.0.0", null],
  ["198.51.99.255", null], ["198.51.100.0", "documentation (198.51.100.0/24)"], ["198.51.100.255", "documentation (198.51.100.0/24)"], ["198.51.101.0", null],
  ["203.0.112.255", null], ["203.0.113.0", "documentation (203.0.113.0/24)"], ["203.0.113.255", "documentation (203.0.113.0/24)"], ["203.0.114.0", null],
  ["223.255.255.255", null], ["224.0.0.0", "multicast (224.0.0.0/4)"], ["239.255.255.255", "multicast (224.0.0.0/4)"],
  ["240.0.0.0", "reserved (240.0.0.0/4)"], ["255.255.255.254", "reserved (240.0.0.0/4)"], ["255.255.255.255", "broadcast (255.255.255.255/32)"],
  ["8.8.8.8", null], ["1.1.1.1", null], ["93.184.215.14", null],
  // IPv6: the unspecified address and loopback; their neighbours are outside 2000::/3
  ["::", "unspecified (::/128)"], ["::1", "loopback (::1/128)"], ["::2", "not global unicast (outside 2000::/3)"],
  ["::7f00:1", "not global unicast"], // IPv4-compatible ::127.0.0.1 (deprecated)
  // IPv4-mapped: checked as the IPv4 address, in dotted and hex forms, any case
  ["::fffe:ffff:ffff", "not global unicast"], ["::ffff:0.0.0.0", "IPv4-mapped 0.0.0.0: \"this network\""],
  ["::ffff:255.255.255.255", "IPv4-mapped 255.255.255.255: broadcast"], ["::1:0:0:0", "not global unicast"],
  ["::ffff:127.0.0.1", "127.0.0.1: loopback"], ["::FFFF:7F00:1", "127.0.0.1: loopback"], ["0:0:0:0:0:ffff:a00:1", "10.0.0.1: private"],
  ["::ffff:169.254.169.254", "169.254.169.254: cloud metadata"], ["::ffff:100.64.0.1", "CGNAT"], ["::ffff:8.8.8.8", null],
  // NAT64 (64:ff9b::/96): the embedded IPv4 address
  ["64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", "not global unicast"], ["64:ff9b::", "NAT64 0.0.0.0"],
  ["64:ff9b::ffff:ffff", "NAT64 255.255.255.255: broadcast"], ["64:ff9b:0:0:0:1::", "not global unicast"],
  ["64:ff9b::7f00:1", "127.0.0.1: loopback"], ["64:ff9b::192.168.1.1", "192.168.1.1: private"], ["64:ff9b::a9fe:a9fe", "cloud metadata"],
  ["64:ff9b::8.8.8.8", null],
  // discard-only
  ["ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "not global unicast"], ["100::", "discard-only (100::/64)"],
  ["100::ffff:ffff:ffff:ffff", "discard-only (100::/64)"], ["100:0:0:1::", "not global unicast"],
  // global unicast's own edges
  ["1fff:" + L, "not global unicast"], ["2000::", null], ["3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", null], ["4000::", "not global unicast"],
  ["2606:4700:4700::1111", null], ["2a00:1450:4001::1", null],
  // Teredo: refused outright
  ["2000:" + L, null], ["2001::", "Teredo (2001::/32)"], ["2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo (2001::/32)"], ["2001:1::", null],
  // benchmarking
  ["2001:1:ffff:ffff:ffff:ffff:ffff:ffff", null], ["2001:2::", "benchmarking (2001:2::/48)"],
  ["2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmarking (2001:2::/48)"], ["2001:2:1::", null],
  // documentation
  ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", null], ["2001:db8::", "documentation (2001:db8::/32)"],
  ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation (2001:db8::/32)"], ["2001:db9::", null],
  ["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", null], ["3fff::", "documentation (3fff::/20)"],
  ["3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation (3fff::/20)"], ["3fff:1000::", null],
  // 6to4: the embedded IPv4 address
  ["2001:" + L, null], ["2002::", "6to4 0.0.0.0"], ["2002:" + L, "6to4 255.255.255.255: broadcast"], ["2003::", null],
  ["2002:7f00:1::1", "127.0.0.1: loopback"], ["2002:a9fe:a9fe::", "169.254.169.254: cloud metadata"], ["2002:a00:1::", "10.0.0.1: private"],
  ["2002:808:808::1", null],
  // unique-local, with AWS's metadata address inside
  ["fbff:" + L, "not global unicast"], ["fc00::", "unique-local (fc00::/7)"], ["fdff:" + L, "unique-local (fc00::/7)"], ["fe00::", "not global unicast"],
  ["fd00:ec2::253", "unique-local"], ["fd00:ec2::254", "cloud metadata (AWS) (fd00:ec2::254/128)"], ["fd00:ec2::255", "unique-local"],
  // link-local; fec0::/10 (site-local, deprecated) is outside 2000::/3
  ["fe7f:" + L, "not global unicast"], ["fe80::", "link-local (fe80::/10)"], ["febf:" + L, "link-local (fe80::/10)"], ["fec0::", "not global unicast"],
  ["FE80::1", "link-local"],
  // multicast
  ["feff:" + L, "not global unicast"], ["ff00::", "multicast (ff00::/8)"], ["ff02::1", "multicast"], ["ffff:" + L, "multicast (ff00::/8)"],
  // not an address at all, or with a zone
  ["fe80::1%eth0", "a scoped address"], ["2606:4700::1%1", "a scoped address"], ["example.org", "not an IP address"], ["", "not an IP address"],
  ["127.1", "not an IP address"], ["2130706433", "not an IP address"], ["[::1]", "not an IP address"],
];

describe("the address check (public-address.ts)", () => {
  it.each(ADDRESSES)("%s: %s", (address, reason) => {
    const why = whyNotPublic(address);
    if (reason === null) expect(why).toBeNull();
    else expect(why).toContain(reason);
    expect(isPublicAddress(address)).toBe(reason === null);
  });
});

describe("allow rules: parsing and matching", () => {
  it("parses the three kinds; case-insensitive; a port or *", () => {
    expect(parseAllowRule("Example.ORG:443")).toEqual({ kind: "host", host: "example.org", port: 443 });
    expect(parseAllowRule("[::1]:*")).toEqual({ kind: "host", host: "::1", port: "*" });
    expect(parseAllowRule("*.Example.org:443")).toEqual({ kind: "subdomains", domain: "example.org", port: 443 });
    expect(parseAllowRule(" *.a-b.example:* ")).toEqual({ kind: "subdomains", domain: "a-b.example", port: "*" });
    expect(parseAllowRule("*.localhost:8443")).toEqual({ kind: "subdomains", domain: "localhost", port: 8443 });
    expect(parseAllowRule("*.0x1.example:1")).toEqual({ kind: "subdomains", domain: "0x1.example", port: 1 });
    expect(parseAllowRule("public:443")).toEqual({ kind: "public", port: 443 });
    expect(parseAllowRule("PUBLIC:*")).toEqual({ kind: "public", port: "*" });
  });

  const rules = ["*.example.org:443", "*.test:*", "exact.example.net:22"].map(parseAllowRule);
  it.each([
    ["a.example.org", 443, true],
    ["A.EXAMPLE.ORG", 443, true], // destinations are lower-cased by parseDestination; the rule's domain too
    ["a.b.example.org", 443, true], // any depth
    ["x-1.deep.er.example.org", 443, true],
    ["example.org", 443, false], // the apex is not a subdomain
    ["a.example.org", 80, false], // another port
    ["a.example.org.", 443, false], // a trailing dot: not the name the rule wrote (as with exact rules)
    ["badexample.org", 443, false], // label boundary
    ["a.example.org.evil", 443, false],
    [".example.org", 443, false], // an empty label
    ["a..example.org", 443, false],
    ["example.org.example.org", 443, true],
    ["x.test", 1, true],
    ["test", 1, false],
    ["exact.example.net", 22, true],
    ["sub.exact.example.net", 22, false], // an exact rule stays exact
  ])("%s:%d -> %s", (host, port, allowed) => {
    expect(isAllowed(rules, { host: host.toLowerCase(), port })).toBe(allowed);
    expect(needsAddressCheck(rules, { host, port })).toBe(false);
  });

  it("a public rule takes its port only, for any host, and only through the address check", () => {
    const pub = [parseAllowRule("public:443")];
    for (const host of ["example.org", "127.0.0.1", "::1", "localhost"]) {
      expect(isAllowed(pub, { host, port: 443 })).toBe(false);
      expect(needsAddressCheck(pub, { host, port: 443 })).toBe(true);
      expect(needsAddressCheck(pub, { host, port: 22 })).toBe(false);
    }
    expect(needsAddressCheck([parseAllowRule("public:*")], { host: "x", port: 22 })).toBe(true);
  });
});

describe("screenHost: resolve, check every address, keep the first", () => {
  const options = (answer: () => Promise<readonly { address: string; family: number }[]>, timeoutMs = 1000) =>
    ({ resolve: answer, whyNot: whyNotPublic, timeoutMs });
  const answer = (...addresses: string[]) => async () => addresses.map((address) => ({ address, family: net.isIP(address) }));

  it("all public: the first address", async () => {
    expect(await screenHost("two.test", options(answer("2606:4700::1", "8.8.8.8")))).toEqual({ address: "2606:4700::1" });
  });
  it("one public, one private: refused, naming the private one, in either order", async () => {
    expect(await screenHost("mixed.test", options(answer("8.8.8.8", "10.1.2.3"))))
      .toEqual({ refused: "mixed.test -> 10.1.2.3 is private (10.0.0.0/8)" });
    expect(await screenHost("mixed.test", options(answer("192.168.0.1", "8.8.8.8"))))
      .toEqual({ refused: "mixed.test -> 192.168.0.1 is private (192.168.0.0/16)" });
  });
  it("an IP address is checked without a lookup", async () => {
    const never = () => Promise.reject(new Error("not to be called"));
    expect(await screenHost("169.254.169.254", options(never))).toEqual({ refused: "169.254.169.254 is cloud metadata (169.254.169.254/32)" });
    expect(await screenHost("8.8.8.8", options(never))).toEqual({ address: "8.8.8.8" });
  });
  it("failures: an error, no address, not a list, a throwing resolver, the timeout", async () => {
    const notFound = Object.assign(new Error("getaddrinfo ENOTFOUND x.test"), { code: "ENOTFOUND" });
    expect(await screenHost("x.test", options(() => Promise.reject(notFound)))).toEqual({ failed: "cannot resolve x.test: ENOTFOUND" });
    expect(await screenHost("x.test", options(answer()))).toEqual({ failed: "DNS lookup of x.test found no address" });
    expect(await screenHost("x.test", options(async () => "1.2.3.4" as never))).toEqual({ failed: "DNS lookup of x.test gave no list of addresses" });
    expect(await screenHost("x.test", options(() => { throw new Error("boom"); }))).toEqual({ failed: "cannot resolve x.test: boom" });
    expect(await screenHost("x.test", options(() => new Promise(() => {}), 50))).toEqual({ failed: "DNS lookup of x.test timed out after 50 ms" });
  });
  it("the system resolver (node:dns lookup, all addresses) on /etc/hosts' localhost: refused", async () => {
    const { systemResolver } = await import("../../bindings/src/tunnel/resolve.js");
    const s = await screenHost("localhost", { resolve: systemResolver, whyNot: whyNotPublic, timeoutMs: 5000 });
    expect(s).toEqual({ refused: expect.stringMatching(/^localhost -> (127\.0\.0\.1|::1) is loopback/) });
  });
});

describe("public rules through a live tunnel", () => {
  let echo: net.Server;
  let echoPort = 0;
  beforeAll(async () => {
    echo = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on("data", (d) => s.write(d));
      s.on("end", () => s.end());
      s.on("error", () => {});
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    echo.close();
  });

  /** A tunnel whose resolver answers from `names` (ENOTFOUND otherwise) and counts its calls; its events. */
  async function tunnelWith(allow: string[], names: Record<string, string[] | (() => string[])>, extra: Record<string, unknown> = {}) {
    const events: TunnelEvent[] = [];
    const calls: string[] = [];
    const resolve = async (host: string) => {
      calls.push(host);
      const entry = names[host];
      if (!entry) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
      return (typeof entry === "function" ? entry() : entry).map((address) => ({ address, family: net.isIP(address) }));
    };
    const t = await createTunnel({ allow, resolve, onEvent: (e) => events.push(e), ...extra });
    return { t, events, calls };
  }

  /** Every forbidden range, as a name's only address (first addresses of each range, and the metadata ones). */
  const FORBIDDEN = ADDRESSES.filter(([address, reason]) => reason !== null && net.isIP(address) && !address.includes("%"))
    .map(([address]) => address);

  it("refuses a name that resolves into each forbidden range: close 1008 naming the address and why, a refused event, no connection", async () => {
    const names = Object.fromEntries(FORBIDDEN.map((address, i) => [`n${i}.test`, [address]]));
    const { t, events } = await tunnelWith(["public:443"], names);
    const before = dialled.length;
    for (const [i, address] of FORBIDDEN.entries()) {
      const r = await session(`${t.url}/n${i}.test:443`);
      expect(r.code, address).toBe(1008);
      expect(r.reason, address).toBe(closeReason(`destination not allowed: n${i}.test -> ${address} is ${whyNotPublic(address)}`));
    }
    expect(await waitFor(() => events.filter((e) => e.event === "closed").length === FORBIDDEN.length)).toBe(true);
    const refused = events.filter((e) => e.event === "refused");
    expect(refused).toHaveLength(FORBIDDEN.length);
    expect(refused[0]).toMatchObject({ target: "n0.test:443", code: 1008, reason: expect.stringContaining("n0.test -> 0.0.0.0 is") });
    expect(events.some((e) => e.event === "resolved" || e.event === "connected")).toBe(false);
    // only the WebSocket clients dialled (the tunnel's URL), never a destination
    expect(dialled.slice(before).every((d) => d === `127.0.0.1 ${t.port}`)).toBe(true);
    expect(await waitFor(() => t.connections === 0 && t.pending === 0)).toBe(true);
    await t.close();
  }, 30_000);

  it("refuses IPv4-mapped and NAT64 answers, and such IP addresses in the path", async () => {
    const { t } = await tunnelWith(["public:*"], {
      "mapped.test": ["::ffff:127.0.0.1"], "nat64.test": ["64:ff9b::a9fe:a9fe"], "sixto4.test": ["2002:c0a8:101::1"],
    });
    expect(await session(`${t.url}/mapped.test:443`)).toMatchObject({ code: 1008,
      reason: "destination not allowed: mapped.test -> ::ffff:127.0.0.1 is IPv4-mapped 127.0.0.1: loopback (127.0.0.0/8)" });
    expect((await session(`${t.url}/nat64.test:80`)).reason).toMatch(/^destination not allowed: nat64\.test -> 64:ff9b::a9fe:a9fe is NAT64 169\.254\.169\.254: cloud metadata/);
    expect((await session(`${t.url}/sixto4.test:80`)).reason).toMatch(/6to4 192\.168\.1\.1: private/);
    for (const [path, why] of [["127.0.0.1:443", "loopback"], ["[::ffff:7f00:1]:443", "IPv4-mapped"], ["[64:ff9b::7f00:1]:443", "NAT64"],
      ["169.254.169.254:80", "cloud metadata"], ["[fd00:ec2::254]:80", "cloud metadata (AWS)"], ["[::1]:443", "loopback"], ["10.0.0.1:22", "private"]]) {
      const r = await session(`${t.url}/${path}`);
      expect(r.code, path).toBe(1008);
      expect(r.reason, path).toContain(why);
    }
    await t.close();
  });

  it("the allowed path: a name resolved once, checked, and connected by the checked address (a second answer would rebind it)", async () => {
    let answers = 0;
    // First answer: the echo server's loopback address (which the injected check calls public);
    // any later one: the metadata address. Connecting by the name again would get the second.
    const { t, events, calls } = await tunnelWith([`public:${echoPort}`], {
      "echo.test": () => (answers++ === 0 ? ["127.0.0.1"] : ["169.254.169.254"]),
    }, { isPublicAddress: (a: string) => a === "127.0.0.1" });
    const before = dialled.length;
    expect(await session(`${t.url}/echo.test:${echoPort}`, "through a checked address")).toEqual({ data: "through a checked address", code: 1000, reason: "" });
    expect(calls).toEqual(["echo.test"]);
    expect(dialled.slice(before)).toContain(`127.0.0.1 ${echoPort}`);
    expect(events.find((e) => e.event === "resolved")).toMatchObject({ target: `echo.test:${echoPort}`, address: "127.0.0.1" });
    expect(events.map((e) => e.event)).toEqual(["connecting", "resolved", "connected", "closed"]);
    // The next tunnel to the same name gets the second answer, and is refused: each tunnel resolves once, and is checked.
    expect(await session(`${t.url}/echo.test:${echoPort}`)).toMatchObject({ code: 1008,
      reason: "destination not allowed: echo.test -> 169.254.169.254 is not public (isPublicAddress)" });
    expect(calls).toEqual(["echo.test", "echo.test"]);
    await t.close();
  });

  it("every address must pass: one the check accepts and one it does not is refused", async () => {
    const { t, events } = await tunnelWith([`public:${echoPort}`], { "both.test": ["127.0.0.1", "127.0.0.2"] },
      { isPublicAddress: (a: string) => a === "127.0.0.1" });
    expect(await session(`${t.url}/both.test:${echoPort}`)).toMatchObject({ code: 1008,
      reason: "destination not allowed: both.test -> 127.0.0.2 is not public (isPublicAddress)" });
    expect(events.some((e) => e.event === "connected")).toBe(false);
    await t.close();
  });

  it("a public rule takes only its port; an exact rule's host goes by name without a lookup", async () => {
    const { t, calls } = await tunnelWith(["public:443", `127.0.0.1:${echoPort}`, "*.example.org:443"], {});
    expect(await session(`${t.url}/example.org:22`)).toMatchObject({ code: 1008, reason: "destination not allowed: example.org:22" });
    expect(await session(`${t.url}/127.0.0.1:${echoPort}`, "exact")).toMatchObject({ data: "exact", code: 1000 });
    expect(calls).toEqual([]);
    await t.close();
  });

  it("resolution failures close 4002 with the reason: not found, no address, a throwing resolver, the DNS timeout", async () => {
    const { t, events } = await tunnelWith(["public:443"], { "empty.test": [] }, { resolveTimeoutMs: 100 });
    expect(await session(`${t.url}/nowhere.test:443`)).toMatchObject({ code: 4002, reason: "cannot resolve nowhere.test: ENOTFOUND" });
    expect(await session(`${t.url}/empty.test:443`)).toMatchObject({ code: 4002, reason: "DNS lookup of empty.test found no address" });
    await t.close();
    expect(events.filter((e) => e.event === "closed").map((e) => e.code)).toEqual([4002, 4002]);

    const slow = await createTunnel({ allow: ["public:443"], resolveTimeoutMs: 100, resolve: () => new Promise(() => {}) });
    const start = Date.now();
    expect(await session(`${slow.url}/slow.test:443`)).toMatchObject({ code: 4002, reason: "DNS lookup of slow.test timed out after 100 ms" });
    expect(Date.now() - start).toBeLessThan(2000);
    await slow.close();

    const throwing = await createTunnel({ allow: ["public:443"], resolve: () => { throw new Error("resolver bug"); } });
    expect(await session(`${throwing.url}/x.test:443`)).toMatchObject({ code: 4002, reason: "cannot resolve x.test: resolver bug" });
    await throwing.close();
  });

  it("a client that leaves during the lookup: nothing is dialled when the answer comes, and the counts return to 0", async () => {
    let answer: (v: { address: string; family: number }[]) => void = () => {};
    const t = await createTunnel({ allow: [`public:${echoPort}`], isPublicAddress: (a) => a === "127.0.0.1",
      resolve: () => new Promise((r) => (answer = r)) });
    const ws = new WebSocket(`${t.url}/late.test:${echoPort}`);
    ws.on("error", () => {});
    await once(ws, "open");
    expect(t.connections).toBe(1);
    ws.close(1000);
    await once(ws, "close");
    expect(await waitFor(() => t.connections === 0)).toBe(true);
    const before = dialled.length;
    answer([{ address: "127.0.0.1", family: 4 }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(dialled.slice(before)).toEqual([]);
    await t.close();
  });

  it("killAll and close() while lookups are in flight: 4001 and 1001, nothing dialled afterwards, no unhandled rejection", async () => {
    const answers: ((v: { address: string; family: number }[]) => void)[] = [];
    const lines: string[] = [];
    const t = await createTunnel({ allow: [`public:${echoPort}`], isPublicAddress: (a) => a === "127.0.0.1", log: (l) => lines.push(l),
      resolve: () => new Promise((r) => answers.push(r)) });
    const open = async () => {
      const ws = new WebSocket(`${t.url}/slow.test:${echoPort}`);
      ws.on("error", () => {});
      const closed = once(ws, "close");
      await once(ws, "open");
      return { closed }; // wrapped: an async function returning the promise itself would wait for it
    };
    const killed = await open();
    expect(await waitFor(() => answers.length === 1)).toBe(true);
    t.killAll();
    expect((await killed.closed)[0]).toBe(4001);
    const stopped = await open();
    expect(await waitFor(() => answers.length === 2)).toBe(true);
    const before = dialled.length;
    await t.close();
    expect((await stopped.closed)[0]).toBe(1001);
    for (const answer of answers) answer([{ address: "127.0.0.1", family: 4 }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(dialled.slice(before)).toEqual([]);
    expect(lines.filter((l) => / -> slow\.test:\d+: connecting$/.test(l))).toHaveLength(2);
  });

  it("the text log: the resolved address, and a refusal after the lookup with its target", async () => {
    const lines: string[] = [];
    const t = await createTunnel({ allow: [`public:${echoPort}`], isPublicAddress: (a) => a === "127.0.0.1", log: (l) => lines.push(l),
      resolve: async (host) => [{ address: host === "ok.test" ? "127.0.0.1" : "10.9.8.7", family: 4 }] });
    await session(`${t.url}/ok.test:${echoPort}`, "x");
    await session(`${t.url}/no.test:${echoPort}`);
    await t.close();
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^#1 127\\.0\\.0\\.1:\\d+ -> ok\\.test:${echoPort}: resolved to 127\\.0\\.0\\.1$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(
      `^#2 127\\.0\\.0\\.1:\\d+ -> no\\.test:${echoPort} refused \\(1008\\): destination not allowed: no\\.test -> 10\\.9\\.8\\.7 is not public \\(isPublicAddress\\)$`)));
  });

  it("subdomain rules refuse the apex and other names before any lookup", async () => {
    const { t, calls } = await tunnelWith(["*.example.org:443"], {});
    for (const host of ["example.org", "badexample.org", "a.example.org.evil"]) {
      expect(await session(`${t.url}/${host}:443`)).toMatchObject({ code: 1008, reason: `destination not allowed: ${host}:443` });
    }
    expect(calls).toEqual([]);
    await t.close();
  });
});
