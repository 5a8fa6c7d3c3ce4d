// Command bare is the physical limit scripts/limit.sh holds Gatehouse to:
// a net/http server whose one handler answers {"status":"ok"} as JSON,
// with nothing else (no middleware, no security headers, no metrics).
//
//	go run ./scripts/bare -addr 127.0.0.1:8600
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8600", "listen address")
	flag.Parse()
	body := []byte(`{"status":"ok"}` + "\n")
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = []string{"application/json"}
			w.Write(body)
		})}
	log.Fatal(srv.ListenAndServe())
}
