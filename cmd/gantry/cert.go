package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gantry/internal/ca"
)

// runCert makes a local CA (once) and leaf certificates signed by it, for testing TLS the
// way mkcert does.
func runCert(_ context.Context, s stdio, args []string) error {
	fs := newFlags(s, "cert", "cert [--dir DIR] [--name BASE] [--days N] [--force] [NAME|IP]...",
		"Cert makes a local certificate authority in DIR (ca.crt, ca.key) if there is none, and\n"+
			"a certificate signed by it for the DNS names and IP addresses given (DIR/BASE.crt and\n"+
			"DIR/BASE.key; BASE is the first name). Keys are ECDSA P-256 and readable by their\n"+
			"owner only. Clients that trust DIR/ca.crt (curl --cacert, a Go tls.Config's RootCAs)\n"+
			"accept the certificates. For testing only: the CA key sits in a file.\n\n"+
			"  gantry cert --dir certs localhost 127.0.0.1 ::1\n"+
			"  gantry cert --dir certs '*.app.test' app.test")
	dir := fs.String("dir", ".", "directory for the CA and the certificates")
	name := fs.String("name", "", "base name of the certificate files (default: the first name)")
	days := fs.Int("days", int(ca.LeafValidity/(24*time.Hour)), "validity of the certificate in days")
	force := fs.Bool("force", false, "replace existing certificate files (with no names: replace the CA)")
	if err := fs.parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if *days < 1 || *days > 3650 {
		return fs.fail(fmt.Errorf("--days %d is out of range; allowed 1 to 3650", *days))
	}
	if len(names) == 0 && *name != "" {
		return fs.fail(errors.New("--name needs at least one DNS name or IP address"))
	}
	if *name != "" && (strings.ContainsAny(*name, `/\`) || *name == "." || *name == ".." || *name == "ca") {
		return fs.fail(fmt.Errorf("--name %q is not a plain file name (nor ca)", *name))
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	caCrt, caKey := filepath.Join(*dir, "ca.crt"), filepath.Join(*dir, "ca.key")
	authority, err := loadOrMakeCA(s, caCrt, caKey, *force && len(names) == 0)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	leaf, err := authority.Sign(names, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return fs.fail(err)
	}
	base := *name
	if base == "" {
		base = strings.ReplaceAll(names[0], "*", "_wildcard")
		base = strings.ReplaceAll(base, ":", "_") // IPv6
	}
	crt, key := filepath.Join(*dir, base+".crt"), filepath.Join(*dir, base+".key")
	if err := ca.WriteFiles(crt, key, leaf.Cert, leaf.Key, *force); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "wrote %s and %s for %s, valid until %s\n", crt, key,
		strings.Join(names, ", "), leaf.Cert.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(s.out, "clients trust it with %s, e.g. curl --cacert %s https://%s/\n", caCrt, caCrt, names[0])
	return nil
}

// loadOrMakeCA loads the CA in crt and key, or makes one when neither file exists (or
// when replace is set).
func loadOrMakeCA(s stdio, crt, key string, replace bool) (*ca.CA, error) {
	_, errC := os.Stat(crt)
	_, errK := os.Stat(key)
	if !replace && errC == nil && errK == nil {
		return ca.Load(crt, key)
	}
	if !replace && (errC == nil) != (errK == nil) {
		return nil, fmt.Errorf("%s and %s: one exists without the other; remove it or use --force with no names to make a new CA", crt, key)
	}
	host, _ := os.Hostname()
	authority, err := ca.New("gantry local CA "+host, 0)
	if err != nil {
		return nil, err
	}
	if err := ca.WriteFiles(crt, key, authority.Cert, authority.Key, replace); err != nil {
		return nil, err
	}
	fmt.Fprintf(s.out, "wrote a new CA: %s (trust this) and %s (keep it private), valid until %s\n",
		crt, key, authority.Cert.NotAfter.Format(time.DateOnly))
	return authority, nil
}
