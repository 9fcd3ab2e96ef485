// workerd entry for test/runtimes/edge-tunnel.test.ts: the package's edge tunnel
// as a Worker, configured from the environment (TUNNEL_ALLOW), as deployed.
import { connect } from "cloudflare:sockets";
import { createCloudflareTunnel } from "../../bindings/dist/edge/index.js";

export default createCloudflareTunnel({ connect, maxFrameBytes: 128 * 1024, connectTimeoutMs: 500, log: (line) => console.log(line) });
