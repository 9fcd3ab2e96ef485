# workerd configuration, to run the worker locally as Cloudflare would:
#
#   npm run build     # dist/worker.js
#   TUNNEL_ALLOW=127.0.0.1:4433 npx workerd serve config.capnp
#
# It listens on 127.0.0.1:8787 and may open TCP connections to loopback and
# private addresses (the network service below; Cloudflare's own network
# refuses those).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "network", network = (allow = ["local", "private"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "dist/worker.js") ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "TUNNEL_ALLOW", fromEnvironment = "TUNNEL_ALLOW"),
    (name = "TUNNEL_WISP", text = "1"),
  ],
  globalOutbound = "network",
);
