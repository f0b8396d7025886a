package devstack

import (
	"testing"
	"time"
)

func TestTicketLifetime(t *testing.T) {
	cases := map[time.Duration]time.Duration{
		7200 * time.Second: 7200 * time.Second,
		20 * time.Minute:   20 * time.Minute,
		10 * time.Minute:   20 * time.Minute,
		6 * time.Minute:    16 * time.Minute,
	}
	for in, want := range cases {
		if got := TicketLifetime(in); got != want {
			t.Errorf("TicketLifetime(%s) = %s, want %s", in, got, want)
		}
	}
}
