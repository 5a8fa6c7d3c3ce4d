package e2e

import (
	"os"
	"testing"
	"time"
)

// checkPropagation judges how fast a change made on one process reached
// another. Without a push the news would arrive only with the 500 ms poll
// of the change feed, so a median under 100 ms shows the push path works,
// whatever else the machine is doing; that is always asserted. The p99
// target (100 ms) is a measurement of the machine as much as of the code:
// under the race detector on a loaded 2-core box one scheduling stall
// decides it. It is asserted when GATEHOUSE_STRICT_LATENCY=1 (the load
// scripts set it on a quiet machine) and logged otherwise.
func checkPropagation(t *testing.T, what string, p50, p99 time.Duration) {
	t.Helper()
	const target = 100 * time.Millisecond
	if p50 > target {
		t.Errorf("%s: p50 %v exceeds %v: the change travelled by polling, not by push", what, p50, target)
	}
	if p99 > target {
		if os.Getenv("GATEHOUSE_STRICT_LATENCY") == "1" {
			t.Errorf("%s: p99 %v exceeds %v", what, p99, target)
		} else {
			t.Logf("%s: p99 %v exceeds the %v target on this run (asserted only with GATEHOUSE_STRICT_LATENCY=1)", what, p99, target)
		}
	}
}
