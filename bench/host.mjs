// The host name of the benchmark's certificate (bench/cert.mjs), on its own
// so that code which runs in browsers too (bench/engine.mjs) can import it.
export const HOST = "localhost";
