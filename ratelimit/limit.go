package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is Rate requests per Period, of which up to Burst may come at once.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// ParseLimit parses "N/unit" ("10/minute", "100/second", "1000/hour",
// "5/day") or "N/duration" ("5/5m", "30/90s"). Burst is set to N, so a fresh
// client may spend the whole quota at once, as in "the 6th request within a
// minute is refused".
func ParseLimit(s string) (Limit, error) {
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: want N/period, like 10/minute", s)
	}
	rate, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || rate < 1 {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: want a positive count before /", s)
	}
	var period time.Duration
	switch per = strings.ToLower(strings.TrimSpace(per)); per {
	case "s", "sec", "second":
		period = time.Second
	case "m", "min", "minute":
		period = time.Minute
	case "h", "hour":
		period = time.Hour
	case "d", "day":
		period = 24 * time.Hour
	default:
		if period, err = time.ParseDuration(per); err != nil || period <= 0 {
			return Limit{}, fmt.Errorf("ratelimit: limit %q: want second, minute, hour, day or a duration like 5m after /", s)
		}
	}
	l := Limit{Rate: rate, Period: period, Burst: rate}
	if err := l.validate(); err != nil {
		return Limit{}, fmt.Errorf("ratelimit: limit %q: %w", s, err)
	}
	return l, nil
}

// interval is GCRA's emission interval: the time one request costs.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

func (l Limit) validate() error {
	switch {
	case l.Rate < 1 || l.Burst < 1:
		return fmt.Errorf("rate and burst must be positive")
	case l.Period <= 0:
		return fmt.Errorf("period must be positive")
	case l.interval() < time.Microsecond:
		// A shared store may keep microseconds only.
		return fmt.Errorf("more than one request per microsecond")
	case time.Duration(l.Burst) > (1<<62)/l.interval():
		return fmt.Errorf("burst too large")
	}
	return nil
}
