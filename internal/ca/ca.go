package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Validity defaults: a CA for ten years; a leaf for 825 days, the longest that Apple's
// platforms accept for a TLS server certificate.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 825 * 24 * time.Hour
)

// backdate is how far before now a certificate becomes valid, so that a peer whose clock
// is a little behind accepts it.
const backdate = time.Hour

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// New makes a self-signed CA named name, valid for validity (CAValidity when 0).
func New(name string, validity time.Duration) (*CA, error) {
	if validity == 0 {
		validity = CAValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("ca: validity %v is negative", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"gantry local CA"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only, never another CA
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Load reads a CA from its PEM certificate and key files.
func Load(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", certFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("ca: %s: not an ECDSA key", keyFile)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("ca: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Leaf is a certificate signed by a CA, with its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Sign makes a leaf certificate for names: DNS names (a wildcard "*.example.com"
// allowed) and IP addresses. Validity is LeafValidity when 0; the leaf never outlives
// the CA.
func (ca *CA) Sign(names []string, validity time.Duration) (*Leaf, error) {
	if len(names) == 0 {
		return nil, errors.New("ca: a leaf certificate needs at least one DNS name or IP address")
	}
	if validity == 0 {
		validity = LeafValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("ca: validity %v is negative", validity)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0], Organization: []string{"gantry local certificate"}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
			continue
		}
		if err := checkDNSName(n); err != nil {
			return nil, err
		}
		tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(n))
	}
	var err error
	if tmpl.SerialNumber, err = serialNumber(); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

// TLSCertificate returns the leaf as a tls.Certificate, for a listener or a client.
func (l *Leaf) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
}

// Pool returns a certificate pool holding only the CA, for a client's RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes a private key as PEM (PKCS #8).
func KeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes a certificate and its key as PEM files: the certificate readable by
// all (0644), the key by its owner only (0600). An existing file is an error wrapping
// os.ErrExist unless overwrite is set.
func WriteFiles(certFile, keyFile string, cert *x509.Certificate, key *ecdsa.PrivateKey, overwrite bool) error {
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return err
	}
	if !overwrite {
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%s: %w (use --force to replace it)", f, os.ErrExist)
			}
		}
	}
	if err := writeFile(keyFile, keyPEM, 0o600, overwrite); err != nil {
		return err
	}
	return writeFile(certFile, CertPEM(cert), 0o644, overwrite)
}

// writeFile writes data to a new file of mode perm. With overwrite it writes a temporary
// file and renames it over name, so that a reader never sees half a file and an old
// key file's wider mode is not kept.
func writeFile(name string, data []byte, perm os.FileMode, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
		}
		return err
	}
	tmp := name + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// checkDNSName accepts host names of letters, digits and hyphens in dot-separated labels,
// with an optional "*." in front (a wildcard for one label).
func checkDNSName(n string) error {
	bad := func(why string) error {
		return fmt.Errorf("ca: %q is not a DNS name or IP address: %s", n, why)
	}
	name := strings.TrimPrefix(n, "*.")
	if name == "" || len(name) > 253 {
		return bad("empty or longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	if n != name && len(labels) < 2 {
		return bad("a wildcard needs at least two labels after it")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return bad("a label is empty or longer than 63 bytes")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("a label starts or ends with a hyphen")
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad(fmt.Sprintf("%q is not allowed (letters, digits, hyphens, and *. in front)", c))
			}
		}
	}
	return nil
}
