package metrics

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// methodLabels returns the distinct values of the method label in the
// gathered family name.
func methodLabels(t *testing.T, m *Metrics, name string) []string {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "method" && !slices.Contains(out, l.GetValue()) {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestMadeUpMethodsShareOneSeries(t *testing.T) {
	m := New(nil)
	for i := range 1000 {
		m.Request("/token", fmt.Sprintf("M%d", i), http.StatusMethodNotAllowed, time.Millisecond)
	}
	m.Request("/token", http.MethodPost, http.StatusOK, time.Millisecond)
	for _, name := range []string{"gatehouse_http_requests_total", "gatehouse_http_request_duration_seconds"} {
		got := methodLabels(t, m, name)
		if len(got) > 8 {
			t.Errorf("%s: %d distinct method labels, want at most 8", name, len(got))
		}
		if !slices.Contains(got, "OTHER") || !slices.Contains(got, http.MethodPost) {
			t.Errorf("%s: method labels %q (first 10), want OTHER and POST among them", name, got[:min(len(got), 10)])
		}
	}
	entries := 0
	m.byRequest.Range(func(any, any) bool { entries++; return true })
	if entries != 2 {
		t.Errorf("series cache holds %d entries, want 2 (OTHER and POST)", entries)
	}
}

func TestMethodLabel(t *testing.T) {
	tests := []struct{ method, want string }{
		{http.MethodGet, "GET"},
		{http.MethodHead, "HEAD"},
		{http.MethodPost, "POST"},
		{http.MethodPut, "PUT"},
		{http.MethodPatch, "PATCH"},
		{http.MethodDelete, "DELETE"},
		{http.MethodOptions, "OPTIONS"},
		{http.MethodConnect, "OTHER"},
		{http.MethodTrace, "OTHER"},
		{"get", "OTHER"}, // methods are case-sensitive
		{"PROPFIND", "OTHER"},
		{"", "OTHER"},
	}
	for _, tt := range tests {
		if got := methodLabel(tt.method); got != tt.want {
			t.Errorf("methodLabel(%q) = %q, want %q", tt.method, got, tt.want)
		}
	}
}

func TestNilMetricsIgnoresRequests(t *testing.T) {
	var m *Metrics
	m.Request("/token", "M1", http.StatusOK, time.Millisecond) // must not panic
}

func TestHashQueueDepthIsGatheredWhenGiven(t *testing.T) {
	m := New(func() int { return 3 })
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "gatehouse_password_hash_queue_depth" {
			if got := f.GetMetric()[0].GetGauge().GetValue(); got != 3 {
				t.Fatalf("queue depth %v, want 3", got)
			}
			return
		}
	}
	t.Fatal("gatehouse_password_hash_queue_depth not gathered")
}
