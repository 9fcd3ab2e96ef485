# workerd configuration: one worker, served on 127.0.0.1:8787, allowed to
# open TCP connections to loopback and private addresses.
#
#   TLS_SERVER=127.0.0.1:4433 TLS_SERVERNAME=server.test npx workerd serve config.capnp
#
# (after `npm run build`, with the server's CA in ca.pem.)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # connect() goes out through the worker's globalOutbound: this network
    # service. Add "public" to reach servers on the Internet.
    (name = "network", network = (allow = ["local", "private"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "dist/worker.js"),
    # workerd refuses to compile wasm from bytes at run time: the wasm is a
    # module of its own, which the worker imports as a WebAssembly.Module.
    (name = "openssl-tls-wasm/wasm", wasm = embed "node_modules/openssl-tls-wasm/wasm/dist/openssl.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "TLS_SERVER", fromEnvironment = "TLS_SERVER"),
    (name = "TLS_SERVERNAME", fromEnvironment = "TLS_SERVERNAME"),
    (name = "CA_PEM", text = embed "ca.pem"),
  ],
  globalOutbound = "network",
);
