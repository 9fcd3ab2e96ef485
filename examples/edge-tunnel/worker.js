// The tunnel as a Cloudflare Worker: WebSocket upgrades to /<host>:<port>
// (wsproxy) and, with TUNNEL_WISP, to "/" (Wisp v1), relayed over connect()
// from cloudflare:sockets to the destinations TUNNEL_ALLOW lists.
import { connect } from "cloudflare:sockets";
import { createCloudflareTunnel } from "openssl-tls-wasm/edge";

export default createCloudflareTunnel({ connect, log: (line) => console.log(line) });
