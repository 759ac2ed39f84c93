// Command backend is the upstream of the proxy benchmark: a plain net/http server that
// answers /small with a 13-byte body and /4k with 4 KiB, the same behind every proxy, over
// HTTP/1.1 or h2c.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19001", "listen address")
	flag.Parse()
	small := []byte("Hello, World!")
	big := bytes.Repeat([]byte("x"), 4096)
	mux := http.NewServeMux()
	for path, body := range map[string][]byte{"/small": small, "/4k": big} {
		n := strconv.Itoa(len(body))
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", n)
			w.Write(body)
		})
	}
	// HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on the same port: the h2up rows
	// reach it over HTTP/2.
	srv := &http.Server{Addr: *addr, Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	log.Fatal(srv.ListenAndServe())
}
