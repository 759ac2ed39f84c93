// Package ca makes a local certificate authority and the leaf certificates it signs, for
// testing TLS on a developer's machine the way mkcert does: `gantry cert` writes them to
// files, and tests use them to run real TLS listeners that a real client trusts.
//
// Keys are ECDSA P-256. A CA is valid for ten years and may sign only leaves (path
// length zero); a leaf names its DNS names and IP addresses as subject alternative names
// (the only names clients check, RFC 6125) and may serve as a TLS server or client
// certificate. Nothing here is meant for production: the CA key sits in a file.
package ca
