// Interop with Go's crypto/tls (Debian's golang-go; our test/peers/go/tlspeer.go):
// every close mode, TLS 1.2 and 1.3, both roles, and resumption
// (test/interop/close-modes.ts).
import { closeModes, setup } from "./close-modes.js";

const ctx = setup("go");

closeModes(ctx, "go", {
  // Conn.Close sends close_notify alone, whatever the version.
  closeAlerts: { "TLSv1.2": ["warning close notify"], "TLSv1.3": ["warning close notify"] },
  closeAlertsAfterOurs: { "TLSv1.2": ["warning close notify"], "TLSv1.3": ["warning close notify"] },
  // On a close_notify, Read returns io.EOF and nothing is sent back, in TLS
  // 1.2 too: answering is left to the application's Close (crypto/tls
  // conn.go, readRecordOrCCS).
  answersCloseNotify: { "TLSv1.2": false, "TLSv1.3": false },
  // And so it can keep writing after our close_notify in both versions.
  writesAfterOurCloseNotify: { "TLSv1.2": true, "TLSv1.3": true },
  // A TCP EOF at a record boundary is io.EOF too, as if close_notify had
  // come: Go accepts it on purpose ("popular web sites seem to do this",
  // conn.go) and cannot be told otherwise, so it never sees our destroy() as
  // a truncation.
  onTruncation: /^EOF$/,
});
