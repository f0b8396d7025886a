package fakeaws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// EventBridge limits enforced by PutEvents.
const (
	maxPutEventsEntries = 10
	maxPutEventsSize    = 256 * 1024
)

// Event is one entry EventBridge accepted.
type Event struct {
	EventID      string
	Source       string
	DetailType   string
	Detail       json.RawMessage
	EventBusName string // "default" when the entry named no bus
	Time         time.Time
	Resources    []string
}

// PutFailure selects how FailPutEvents makes PutEvents fail.
type PutFailure int

const (
	// PutEventsServerError answers HTTP 500 InternalException. The SDK
	// retries it (3 attempts by default).
	PutEventsServerError PutFailure = iota + 1
	// PutEventsPartialFailure answers 200 with FailedEntryCount 1: the first
	// entry fails with ErrorCode InternalFailure, the others are accepted.
	PutEventsPartialFailure
)

// String names the failure mode.
func (m PutFailure) String() string {
	switch m {
	case PutEventsServerError:
		return "PutEventsServerError"
	case PutEventsPartialFailure:
		return "PutEventsPartialFailure"
	}
	return "PutFailure(" + strconv.Itoa(int(m)) + ")"
}

// Events returns the entries accepted so far, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// SetPutEventsLatency makes every PutEvents call take d (wall time) before
// it is processed and answered, as a slow EventBridge does; 0 restores
// immediate answers. The entries are accepted after the wait even when the
// client has given up meanwhile: a request that reached EventBridge is
// processed whether or not its answer is read.
func (s *Server) SetPutEventsLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLatency = max(d, 0)
}

// FailPutEvents makes the next n PutEvents calls fail as mode says.
func (s *Server) FailPutEvents(mode PutFailure, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putFailMode, s.putFailCount = mode, n
}

type putEventsEntry struct {
	Source       string       `json:"Source"`
	DetailType   string       `json:"DetailType"`
	Detail       string       `json:"Detail"`
	EventBusName string       `json:"EventBusName"`
	Time         *json.Number `json:"Time"`
	Resources    []string     `json:"Resources"`
	TraceHeader  string       `json:"TraceHeader"`
}

type putEventsInput struct {
	Entries    []putEventsEntry `json:"Entries"`
	EndpointID string           `json:"EndpointId"`
}

type putEventsResultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsOutput struct {
	FailedEntryCount int                    `json:"FailedEntryCount"`
	Entries          []putEventsResultEntry `json:"Entries"`
}

func (s *Server) putEvents(w http.ResponseWriter, body []byte) {
	var in putEventsInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "request body is not a valid PutEvents request: "+err.Error())
		return
	}
	if n := len(in.Entries); n == 0 || n > maxPutEventsEntries {
		writeJSONError(w, http.StatusBadRequest, "ValidationException",
			fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and %d (got %d)", maxPutEventsEntries, n))
		return
	}
	if size := entriesSize(in.Entries); size > maxPutEventsSize {
		writeJSONError(w, http.StatusBadRequest, "ValidationException",
			fmt.Sprintf("Total size of the entries in the request is over the limit (%d > %d bytes).", size, maxPutEventsSize))
		return
	}

	s.mu.Lock()
	latency := s.putLatency
	s.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency) // not under s.mu: concurrent calls wait side by side
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var mode PutFailure
	if s.putFailCount > 0 {
		s.putFailCount--
		mode = s.putFailMode
	}
	if mode == PutEventsServerError {
		writeJSONError(w, http.StatusInternalServerError, "InternalException", "injected failure")
		return
	}

	out := putEventsOutput{Entries: make([]putEventsResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		ev, code, msg := validateEntry(e)
		if code == "" && mode == PutEventsPartialFailure && i == 0 {
			code, msg = "InternalFailure", "injected failure"
		}
		if code != "" {
			out.FailedEntryCount++
			out.Entries[i] = putEventsResultEntry{ErrorCode: code, ErrorMessage: msg}
			continue
		}
		s.eventSeq++
		ev.EventID = uuidFrom(0xe7e47, s.eventSeq)
		if ev.Time.IsZero() {
			ev.Time = time.Now().UTC().Truncate(time.Second)
		}
		s.events = append(s.events, ev)
		out.Entries[i] = putEventsResultEntry{EventID: ev.EventID}
	}
	writeJSON(w, out)
}

// validateEntry checks one entry as EventBridge does and converts it; a
// non-empty code is the entry's ErrorCode.
func validateEntry(e putEventsEntry) (ev Event, code, msg string) {
	switch {
	case e.Source == "":
		return Event{}, "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
	case e.DetailType == "":
		return Event{}, "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case e.Detail == "":
		return Event{}, "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."
	}
	trimmed := bytes.TrimSpace([]byte(e.Detail))
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{}, "MalformedDetail", "Detail is malformed."
	}
	ev = Event{
		Source:       e.Source,
		DetailType:   e.DetailType,
		Detail:       json.RawMessage(e.Detail),
		EventBusName: e.EventBusName,
		Resources:    e.Resources,
	}
	if ev.EventBusName == "" {
		ev.EventBusName = "default"
	}
	if e.Time != nil {
		sec, err := e.Time.Float64()
		if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) {
			return Event{}, "InvalidArgument", "Parameter Time is not valid."
		}
		whole, frac := math.Modf(sec)
		ev.Time = time.Unix(int64(whole), int64(math.Round(frac*1e3))*1e6).UTC()
	}
	return ev, "", ""
}

// entriesSize approximates EventBridge's entry size calculation: the UTF-8
// lengths of Source, DetailType, Detail and Resources, plus 14 bytes for a
// Time.
func entriesSize(entries []putEventsEntry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Source) + len(e.DetailType) + len(e.Detail)
		for _, r := range e.Resources {
			n += len(r)
		}
		if e.Time != nil {
			n += 14
		}
	}
	return n
}
