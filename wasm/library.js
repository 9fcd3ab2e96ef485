// Emscripten JS library (--js-library) for openssl-wasm: the functions the
// C side imports. Emscripten's own getentropy() draws one byte per call and
// aborts the module when no CSPRNG exists; ours fills the buffer with
// crypto.getRandomValues in chunks and reports failure to OpenSSL instead.

mergeInto(LibraryManager.library, {
  // int getentropy(void *buf, size_t len): 0 on success, -1 on failure.
  // OpenSSL's only entropy source (openssl-src/patches/0001, and
  // --with-rand-seed=getrandom in wasm/configure-flags.txt).
  getentropy: function (buf, len) {
    var c = globalThis.crypto;
    if (!c || typeof c.getRandomValues !== 'function') return -1;
    // getRandomValues fills at most 65536 bytes per call.
    for (var off = 0; off < len; off += 65536) {
      c.getRandomValues(HEAPU8.subarray(buf + off, buf + Math.min(len, off + 65536)));
    }
    return 0;
  },

  // Callback trampolines (wasm/shim.c). Module.callbacks is installed by the
  // bindings; without it each callback does what OpenSSL does with no
  // callback set.
  ow_js_verify: function (ssl, preverifyOk, store) {
    var cb = Module['callbacks'];
    return cb && cb.verify ? cb.verify(ssl, preverifyOk, store) : preverifyOk;
  },
  ow_js_msg: function (ssl, writeP, version, contentType, buf, len) {
    var cb = Module['callbacks'];
    if (cb && cb.msg) cb.msg(ssl, writeP, version, contentType, buf, len);
  },
  ow_js_new_session: function (ssl, session) {
    var cb = Module['callbacks'];
    return cb && cb.newSession ? cb.newSession(ssl, session) : 0;
  },
  ow_js_alpn_select: function (ssl, inp, inlen) {
    var cb = Module['callbacks'];
    return cb && cb.alpnSelect ? cb.alpnSelect(ssl, inp, inlen) : -1;
  },
  ow_js_status: function (ssl) {
    var cb = Module['callbacks'];
    // -1 without a handler: OpenSSL then fails the handshake with an
    // internal_error alert, on a client and on a server. The bindings set the
    // handler before any context exists, so only a raw-FFI caller that
    // installed the callback without one gets here; that must not pass silently.
    return cb && cb.status ? cb.status(ssl) : -1;
  },
  ow_js_servername: function (ssl, alert) {
    var cb = Module['callbacks'];
    return cb && cb.servername ? cb.servername(ssl, alert) : 0; // SSL_TLSEXT_ERR_OK
  },
});
