// TlsPeer: Java's JSSE (the JDK's own TLS) as an interop peer for
// openssl-wasm's tests (test/interop/jsse.test.ts). JDK 17, no libraries;
// compiled once by the tests (javac), or run as `java TlsPeer.java ...`.
//
// One program, both roles, the same command line and output as
// test/peers/go/tlspeer.go. The server listens on 127.0.0.1 (port 0: any),
// prints "READY <port>" and serves --connections connections one after the
// other; the client connects --connections times with one SSLContext, whose
// client session cache lets every connection after the first resume. Each
// connection runs the same --script, a comma-separated list of actions:
//
//   send:N:SEED  write N bytes (the tests' payload generator)  -> SENT <n> <sha256>
//   recv:N       read exactly N bytes                          -> RECV <n> <sha256>
//   recveof      read until EOF (-1)                           -> RECV <n> <sha256>, then EOF
//   close        SSLSocket.close()                             -> CLOSED
//   closewrite   SSLSocket.shutdownOutput(): half-close        -> CLOSEDWRITE
//   abort        SO_LINGER 0 and close the TCP socket: a RST, no alert -> ABORTED
//   wait         block until a line arrives on stdin (the test's cue)  -> GO
//
// After each handshake it prints "CONN <i> <protocol> resumed=<bool>". A
// failing action prints "ERROR <action> <exception class>: <message>" and
// ends the script; the TCP socket is then closed without any alert. Every
// connection ends with "DONE <i>".
//
// The SSLSocket is layered over a plain Socket (createSocket(socket, ...,
// autoClose=true)) only so that `abort` can reach the TCP socket; close,
// shutdownOutput and reads behave as for an unlayered SSLSocket.
//
// --require-close-notify sets com.sun.net.ssl.requireCloseNotify: without it
// (the JDK's default) JSSE reads a TCP EOF without close_notify as a normal
// end of stream, so a truncation goes unnoticed.

import java.io.ByteArrayOutputStream;
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class TlsPeer {
    static final BufferedReader STDIN = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void fail(String message) {
        System.err.println("TlsPeer: " + message);
        System.exit(2);
    }

    /** The tests' generator: digits with a newline every 64 bytes, from a 32-bit LCG. */
    static byte[] payload(int n, long seed) {
        byte[] b = new byte[n];
        int x = (int) seed;
        for (int i = 0; i < n; i++) {
            x = x * 1103515245 + 12345;
            b[i] = (byte) (i % 64 == 63 ? 10 : 48 + Integer.remainderUnsigned(x >>> 16, 10));
        }
        return b;
    }

    static String digest(byte[] b, int len) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(b, 0, len);
        return HexFormat.of().formatHex(md.digest());
    }

    static String describe(Throwable e) {
        return e.getClass().getName() + ": " + e.getMessage();
    }

    /** Runs the script; false if an action failed. */
    static boolean run(SSLSocket s, Socket raw, List<String> script) throws Exception {
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream();
        for (String action : script) {
            String[] p = action.split(":");
            switch (p[0]) {
                case "send": {
                    int n = Integer.parseInt(p[1]);
                    byte[] data = payload(n, Long.parseLong(p[2]));
                    try {
                        out.write(data);
                        out.flush();
                    } catch (IOException e) {
                        say("ERROR send " + describe(e));
                        return false;
                    }
                    say("SENT " + n + " " + digest(data, n));
                    break;
                }
                case "recv": {
                    int n = Integer.parseInt(p[1]);
                    byte[] data = new byte[n];
                    int got = 0;
                    try {
                        while (got < n) {
                            int r = in.read(data, got, n - got);
                            if (r < 0) throw new IOException("EOF after " + got + " bytes");
                            got += r;
                        }
                    } catch (IOException e) {
                        say("RECV " + got + " " + digest(data, got));
                        say("ERROR recv " + describe(e));
                        return false;
                    }
                    say("RECV " + n + " " + digest(data, n));
                    break;
                }
                case "recveof": {
                    ByteArrayOutputStream all = new ByteArrayOutputStream();
                    byte[] buf = new byte[16384];
                    IOException error = null;
                    try {
                        for (int r; (r = in.read(buf)) >= 0; ) all.write(buf, 0, r);
                    } catch (IOException e) {
                        error = e;
                    }
                    byte[] data = all.toByteArray();
                    say("RECV " + data.length + " " + digest(data, data.length));
                    if (error != null) {
                        say("ERROR recv " + describe(error));
                        return false;
                    }
                    say("EOF");
                    break;
                }
                case "close":
                    try {
                        s.close();
                    } catch (IOException e) {
                        say("ERROR close " + describe(e));
                        return false;
                    }
                    say("CLOSED");
                    break;
                case "closewrite":
                    try {
                        s.shutdownOutput();
                    } catch (IOException e) {
                        say("ERROR closewrite " + describe(e));
                        return false;
                    }
                    say("CLOSEDWRITE");
                    break;
                case "abort":
                    raw.setSoLinger(true, 0); // close() then sends a RST
                    raw.close();
                    say("ABORTED");
                    break;
                case "wait":
                    if (STDIN.readLine() == null) {
                        say("ERROR wait stdin closed");
                        return false;
                    }
                    say("GO");
                    break;
                default:
                    fail("unknown action " + action);
            }
        }
        return true;
    }

    /** One connection: handshake, script, then a plain TCP close if the script left it open. */
    static void serve(int i, SSLSocket s, Socket raw, List<String> script) throws Exception {
        Thread.sleep(5); // creation times are in milliseconds: keep an earlier session's strictly earlier
        long started = System.currentTimeMillis();
        try {
            s.startHandshake();
        } catch (IOException e) {
            say("ERROR handshake " + describe(e));
            raw.close();
            say("DONE " + i);
            return;
        }
        SSLSession session = s.getSession();
        say("CONN " + i + " " + session.getProtocol() + " resumed=" + resumed(session, started));
        run(s, raw, script);
        raw.close(); // whatever the script left open goes without an alert (harmless if closed)
        say("DONE " + i);
    }

    /**
     * JSSE has no "was this session resumed" call. A resumed session keeps
     * the creation time of the session it resumes (JSSE carries it in its
     * session cache and in its stateless tickets); a new one is created
     * during this handshake.
     */
    static boolean resumed(SSLSession session, long handshakeStarted) {
        return session.getCreationTime() < handshakeStarted;
    }

    static PrivateKey readKey(Path file) throws Exception {
        String pem = Files.readString(file);
        if (!pem.contains("-----BEGIN PRIVATE KEY-----")) fail(file + ": expected a PKCS#8 PEM key (BEGIN PRIVATE KEY)");
        String b64 = pem.replaceAll("(?s).*-----BEGIN PRIVATE KEY-----|-----END PRIVATE KEY-----.*", "").replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64));
        for (String alg : new String[] {"EC", "RSA", "Ed25519", "RSASSA-PSS"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (Exception e) {
                // not this algorithm
            }
        }
        fail(file + ": unsupported key type");
        return null;
    }

    static Certificate[] readCerts(Path file) throws Exception {
        try (FileInputStream in = new FileInputStream(file.toFile())) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in).toArray(new Certificate[0]);
        }
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--")) fail("unexpected argument " + argv[i]);
            String name = argv[i].substring(2);
            if (name.equals("require-close-notify")) a.put(name, "true");
            else if (i + 1 < argv.length) a.put(name, argv[++i]);
            else fail("--" + name + " needs a value");
        }
        // Read once, when the JDK's SSL socket classes load: before any of them do.
        if (a.containsKey("require-close-notify")) System.setProperty("com.sun.net.ssl.requireCloseNotify", "true");
        String role = a.getOrDefault("role", "");
        int port = Integer.parseInt(a.getOrDefault("port", "0"));
        String version = a.getOrDefault("version", "1.3");
        String[] protocols = switch (version) {
            case "1.2" -> new String[] {"TLSv1.2"};
            case "1.3" -> new String[] {"TLSv1.3"};
            default -> throw new IllegalArgumentException("--version must be 1.2 or 1.3");
        };
        int connections = Integer.parseInt(a.getOrDefault("connections", "1"));
        List<String> script = new ArrayList<>();
        for (String s : a.getOrDefault("script", "").split(",")) if (!s.isEmpty()) script.add(s);

        SSLContext ctx = SSLContext.getInstance("TLS");
        if (role.equals("server")) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] pw = "unused".toCharArray();
            ks.setKeyEntry("id", readKey(Path.of(a.get("key"))), pw, readCerts(Path.of(a.get("cert"))));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pw);
            ctx.init(kmf.getKeyManagers(), null, null);
            try (ServerSocket listener = new ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"))) {
                say("READY " + listener.getLocalPort());
                for (int i = 1; i <= connections; i++) {
                    Socket raw = listener.accept();
                    SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, null, true);
                    s.setUseClientMode(false);
                    s.setEnabledProtocols(protocols);
                    serve(i, s, raw, script);
                }
            }
        } else if (role.equals("client")) {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            Certificate[] cas = readCerts(Path.of(a.get("ca")));
            for (int i = 0; i < cas.length; i++) ts.setCertificateEntry("ca" + i, cas[i]);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            ctx.init(null, tmf.getTrustManagers(), null);
            String servername = a.get("servername");
            for (int i = 1; i <= connections; i++) {
                Socket raw = new Socket("127.0.0.1", port);
                // The session cache is keyed by (host, port): the servername here, the real port.
                SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, servername, port, true);
                SSLParameters params = s.getSSLParameters();
                params.setProtocols(protocols);
                params.setServerNames(List.of(new SNIHostName(servername)));
                params.setEndpointIdentificationAlgorithm("HTTPS"); // checks the certificate against the SNI name
                s.setSSLParameters(params);
                serve(i, s, raw, script);
            }
        } else {
            fail("--role must be client or server");
        }
    }
}
