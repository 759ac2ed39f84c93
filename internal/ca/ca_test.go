package ca

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs a real TLS handshake over loopback: a listener serving leaf, a client
// trusting roots and asking for serverName. It returns the client's error.
func handshake(t *testing.T, leaf *Leaf, roots *x509.CertPool, serverName string) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*tls.Conn).Handshake()
		io.WriteString(c, "hi")
		c.Close()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: serverName})
	if err == nil {
		var b []byte
		b, err = io.ReadAll(c)
		if err == nil && string(b) != "hi" {
			err = fmt.Errorf("read %q", b)
		}
		c.Close()
	}
	ln.Close()
	<-done
	return err
}

func TestLeafVerifiesAgainstCA(t *testing.T) {
	ca, err := New("test CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign([]string{"localhost", "*.app.test", "127.0.0.1", "::1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.NotAfter.Sub(leaf.Cert.NotBefore) > LeafValidity+time.Hour+time.Minute {
		t.Errorf("leaf validity %v", leaf.Cert.NotAfter.Sub(leaf.Cert.NotBefore))
	}
	if len(leaf.Cert.DNSNames) != 2 || len(leaf.Cert.IPAddresses) != 2 {
		t.Errorf("SANs: %v %v", leaf.Cert.DNSNames, leaf.Cert.IPAddresses)
	}
	for _, name := range []string{"localhost", "x.app.test", "127.0.0.1", "::1"} {
		if err := handshake(t, leaf, ca.Pool(), name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"example.com", "app.test", "a.b.app.test", "127.0.0.2"} {
		if err := handshake(t, leaf, ca.Pool(), name); err == nil {
			t.Errorf("%s: the handshake succeeded for a name the leaf does not carry", name)
		}
	}
	other, _ := New("other CA", 0)
	if err := handshake(t, leaf, other.Pool(), "localhost"); err == nil {
		t.Error("a client trusting another CA accepted the leaf")
	}
}

func TestSignRefusesBadNames(t *testing.T) {
	ca, err := New("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"", "a..b", "-a.com", "a_b.com", "*.com", "a.*.com", "x y", strings.Repeat("a", 64) + ".com"} {
		if _, err := ca.Sign([]string{n}, 0); err == nil {
			t.Errorf("%q: signed", n)
		}
	}
	if _, err := ca.Sign(nil, 0); err == nil {
		t.Error("no names: signed")
	}
	// A leaf never outlives its CA.
	leaf, err := ca.Sign([]string{"a.test"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("leaf ends %v after the CA's %v", leaf.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestWriteFilesAndLoad(t *testing.T) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	ca, err := New("test CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(crt, key, ca.Cert, ca.Key, false); err != nil {
		t.Fatal(err)
	}
	for f, mode := range map[string]os.FileMode{crt: 0o644, key: 0o600} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode&^umask(t) {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), mode)
		}
	}
	if err := WriteFiles(crt, key, ca.Cert, ca.Key, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("second write: %v, want an error wrapping os.ErrExist", err)
	}
	again, err := Load(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) || !again.Key.Equal(ca.Key) {
		t.Error("loaded CA differs from the written one")
	}
	// Overwrite replaces both files, and the key keeps mode 0600.
	os.Chmod(key, 0o644)
	ca2, _ := New("test CA 2", 0)
	if err := WriteFiles(crt, key, ca2.Cert, ca2.Key, true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("overwritten key mode %v", fi.Mode().Perm())
	}
	if again, err = Load(crt, key); err != nil || !again.Cert.Equal(ca2.Cert) {
		t.Errorf("after overwrite: %v", err)
	}
	// A leaf is not a CA.
	leaf, _ := ca2.Sign([]string{"a.test"}, 0)
	lc, lk := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	if err := WriteFiles(lc, lk, leaf.Cert, leaf.Key, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(lc, lk); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("Load(leaf) = %v", err)
	}
	if _, err := tls.LoadX509KeyPair(lc, lk); err != nil {
		t.Errorf("leaf files do not load as a key pair: %v", err)
	}
}

// umask returns the bits the process's umask clears (the files' modes are asked for
// exactly; the umask may narrow them).
func umask(t *testing.T) os.FileMode {
	f := filepath.Join(t.TempDir(), "probe")
	os.WriteFile(f, nil, 0o777)
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ fi.Mode().Perm()
}

func ExampleCA_Sign() {
	ca, err := New("dev CA", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	leaf, err := ca.Sign([]string{"localhost", "127.0.0.1"}, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = leaf.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool()})
	fmt.Println(leaf.Cert.DNSNames, leaf.Cert.IPAddresses, err)
	// Output: [localhost] [127.0.0.1] <nil>
}
