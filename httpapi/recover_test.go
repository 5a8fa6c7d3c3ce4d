package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testservice"
	"github.com/gatehouse/gatehouse/metrics"
)

// A handler's panic is answered with the contract's JSON 500, not a dropped
// connection, and stays observable: counted in the metrics and logged with
// the request id the client was given.
func TestPanicIsAnsweredCountedAndLoggedWithItsRequestID(t *testing.T) {
	svc, store := testservice.New(t, testservice.Options{})
	var logs bytes.Buffer
	met := metrics.New(nil)
	s, err := New(Config{Auth: svc, Store: store, Metrics: met,
		Logger: slog.New(LogHandler{Handler: slog.NewJSONHandler(&logs, nil)})})
	if err != nil {
		t.Fatal(err)
	}
	s.handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))

	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != 500 || strings.TrimSpace(w.Body.String()) != `{"detail":"Internal server error"}` {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	id := w.Header().Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id on the 500")
	}
	var panicLine string
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, "panic in handler") {
			panicLine = line
		}
	}
	if !strings.Contains(panicLine, `"request_id":"`+id+`"`) {
		t.Errorf("the panic's log line lacks request_id %s: %q", id, panicLine)
	}
	scrape := httptest.NewRecorder()
	met.Handler().ServeHTTP(scrape, httptest.NewRequest("GET", "/metrics", nil))
	if want := `gatehouse_http_requests_total{method="GET",route="GET /boom",status="500"} 1`; !strings.Contains(scrape.Body.String(), want) {
		t.Errorf("the 500 was not counted: no %q in /metrics", want)
	}
}
