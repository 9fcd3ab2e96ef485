// tlspeer: Go's crypto/tls as an interop peer for openssl-wasm's tests
// (test/interop/go-tls.test.ts). Standard library only.
//
// One program, both roles. The server listens on 127.0.0.1 (port 0: any),
// prints "READY <port>" and serves -connections connections one after the
// other; the client connects -connections times, sharing one
// ClientSessionCache, so every connection after the first may resume. Each
// connection runs the same -script, a comma-separated list of actions:
//
//	send:N:SEED  write N bytes (the tests' payload generator)  -> SENT <n> <sha256>
//	recv:N       read exactly N bytes                          -> RECV <n> <sha256>
//	recveof      read until EOF                                -> RECV <n> <sha256>, then EOF
//	close        Conn.Close: close_notify, then the TCP close   -> CLOSED
//	closewrite   Conn.CloseWrite: close_notify only (half-close) -> CLOSEDWRITE
//	abort        SO_LINGER 0 and close the TCP socket: a RST, no close_notify -> ABORTED
//	wait         block until a line arrives on stdin (the test's cue)   -> GO
//
// After each handshake it prints "CONN <i> <TLSv1.2|TLSv1.3> resumed=<bool>".
// A failing action prints "ERROR <action> <message>" and ends the script; the
// TCP socket is then closed without close_notify. Every connection ends with
// "DONE <i>". Each line is one write to stdout, so the test sees it at once.
package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

var stdin = bufio.NewReader(os.Stdin)

func say(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

// payload is the tests' generator (test/helpers/tls-peers.ts): digits with a
// newline every 64 bytes, from a 32-bit LCG.
func payload(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x = x*1103515245 + 12345
		if i%64 == 63 {
			b[i] = 10
		} else {
			b[i] = byte(48 + (x>>16)%10)
		}
	}
	return b
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// run executes the script on one connection; false if an action failed.
func run(conn *tls.Conn, raw *net.TCPConn, script []string) bool {
	for _, action := range script {
		parts := strings.Split(action, ":")
		switch parts[0] {
		case "send":
			n, _ := strconv.Atoi(parts[1])
			seed, _ := strconv.ParseUint(parts[2], 10, 32)
			data := payload(n, uint32(seed))
			if _, err := conn.Write(data); err != nil {
				say("ERROR send %v", err)
				return false
			}
			say("SENT %d %s", n, digest(data))
		case "recv":
			n, _ := strconv.Atoi(parts[1])
			data := make([]byte, n)
			got, err := io.ReadFull(conn, data)
			if err != nil {
				say("RECV %d %s", got, digest(data[:got]))
				say("ERROR recv %v", err)
				return false
			}
			say("RECV %d %s", n, digest(data))
		case "recveof":
			// io.EOF is both the peer's close_notify and, at a record
			// boundary, a bare TCP FIN (crypto/tls accepts the latter on
			// purpose: see readRecordOrCCS in conn.go).
			data, err := io.ReadAll(conn)
			say("RECV %d %s", len(data), digest(data))
			if err != nil {
				say("ERROR recv %v", err)
				return false
			}
			say("EOF")
		case "close":
			if err := conn.Close(); err != nil {
				say("ERROR close %v", err)
				return false
			}
			say("CLOSED")
		case "closewrite":
			if err := conn.CloseWrite(); err != nil {
				say("ERROR closewrite %v", err)
				return false
			}
			say("CLOSEDWRITE")
		case "abort":
			_ = raw.SetLinger(0) // close() then sends a RST
			_ = raw.Close()
			say("ABORTED")
		case "wait":
			if _, err := stdin.ReadString('\n'); err != nil {
				say("ERROR wait %v", err)
				return false
			}
			say("GO")
		default:
			fail("tlspeer: unknown action %q", action)
		}
	}
	return true
}

func main() {
	role := flag.String("role", "", "client or server")
	port := flag.Int("port", 0, "server: port to listen on (0: any); client: port to connect to")
	version := flag.String("version", "1.3", "TLS version: 1.2 or 1.3")
	certFile := flag.String("cert", "", "server: certificate (PEM)")
	keyFile := flag.String("key", "", "server: private key (PEM)")
	caFile := flag.String("ca", "", "client: trusted CA (PEM)")
	servername := flag.String("servername", "", "client: SNI and the name to verify")
	connections := flag.Int("connections", 1, "connections to serve or make, one after the other")
	scriptFlag := flag.String("script", "", "comma-separated actions")
	flag.Parse()
	script := strings.Split(*scriptFlag, ",")
	if *scriptFlag == "" {
		script = nil
	}

	cfg := &tls.Config{}
	switch *version {
	case "1.2":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	case "1.3":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	default:
		fail("tlspeer: -version must be 1.2 or 1.3")
	}

	switch *role {
	case "server":
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail("tlspeer: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
		if err != nil {
			fail("tlspeer: %v", err)
		}
		say("READY %d", ln.Addr().(*net.TCPAddr).Port)
		for i := 1; i <= *connections; i++ {
			c, err := ln.Accept()
			if err != nil {
				fail("tlspeer: accept: %v", err)
			}
			serve(i, tls.Server(c, cfg), c.(*net.TCPConn), script)
		}
	case "client":
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fail("tlspeer: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			fail("tlspeer: no certificate in %s", *caFile)
		}
		cfg.ServerName = *servername
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		for i := 1; i <= *connections; i++ {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
			if err != nil {
				fail("tlspeer: connect: %v", err)
			}
			serve(i, tls.Client(c, cfg), c.(*net.TCPConn), script)
		}
	default:
		fail("tlspeer: -role must be client or server")
	}
}

// serve runs one connection: handshake, script, and a plain TCP close if
// the script did not end the connection itself.
func serve(i int, conn *tls.Conn, raw *net.TCPConn, script []string) {
	if err := conn.Handshake(); err != nil {
		say("ERROR handshake %v", err)
		_ = raw.Close()
		say("DONE %d", i)
		return
	}
	state := conn.ConnectionState()
	say("CONN %d %s resumed=%t", i, versionName(state.Version), state.DidResume)
	run(conn, raw, script)
	// Whatever the script left open goes without close_notify (closing an
	// already closed socket is harmless).
	if err := raw.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		say("ERROR tcp-close %v", err)
	}
	say("DONE %d", i)
}
