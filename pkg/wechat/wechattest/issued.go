package wechattest

import "sort"

// IssuedValues returns every access_token (stable and legacy) and every
// ticket the simulator has ever issued, sorted: the set a test scans logs
// and error strings for, to prove no credential leaked.
func (s *Simulator) IssuedValues() []string {
	s.mu.Lock()
	out := make([]string, 0, len(s.tokens)+len(s.tickets))
	for v := range s.tokens {
		out = append(out, v)
	}
	for v := range s.tickets {
		out = append(out, v)
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}
