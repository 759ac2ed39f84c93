// Command backend is the upstream of the proxy benchmark: a plain net/http server that
// answers /small with a 13-byte body and /4k with 4 KiB, the same behind every proxy.
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
	log.Fatal(http.ListenAndServe(*addr, mux))
}
