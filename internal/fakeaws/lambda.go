package fakeaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// Lambda payload limits.
const (
	maxSyncPayload  = 6 << 20
	maxAsyncPayload = 1 << 20
)

// InvokeFunc runs one invocation of a fake function. A non-nil error is a
// function error: the caller gets status 200, X-Amz-Function-Error:
// Unhandled and, as payload, the error's ErrorPayload() when it has that
// method (so a lambdatest.FunctionError passes through unchanged), else
// {"errorMessage","errorType"} built the way aws-lambda-go does.
type InvokeFunc func(ctx context.Context, payload []byte) ([]byte, error)

// HandleInvoke registers fn as the function named functionName (a plain
// name; callers may address it by name, partial ARN or ARN, with or without
// a qualifier).
func (s *Server) HandleInvoke(functionName string, fn func(ctx context.Context, payload []byte) ([]byte, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.functions[functionName] = fn
}

// Invocations reports how many RequestResponse and Event invocations of
// functionName were accepted (dry runs and rejected requests not counted).
func (s *Server) Invocations(functionName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invocations[functionName]
}

// FunctionARN returns the unqualified ARN of functionName as the fake
// reports it.
func FunctionARN(functionName string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, AccountID, functionName)
}

// functionName strips the ARN prefix and qualifier from an Invoke
// FunctionName: "f", "f:alias", "123456789012:function:f",
// "arn:aws:lambda:us-east-1:123456789012:function:f:1".
func functionName(id string) string {
	if i := strings.Index(id, ":function:"); i >= 0 {
		id = id[i+len(":function:"):]
	}
	name, _, _ := strings.Cut(id, ":")
	return name
}

func (s *Server) serveInvoke(w http.ResponseWriter, r *http.Request) {
	name := functionName(r.PathValue("name"))
	s.mu.Lock()
	fn := s.functions[name]
	s.mu.Unlock()
	if fn == nil {
		writeRESTError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+FunctionARN(name))
		return
	}

	invocationType := r.Header.Get("X-Amz-Invocation-Type")
	limit := int64(maxSyncPayload)
	switch invocationType {
	case "", "RequestResponse", "DryRun":
	case "Event":
		limit = maxAsyncPayload
	default:
		writeRESTError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("X-Amz-Invocation-Type %q is not one of RequestResponse, Event, DryRun", invocationType))
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		writeRESTError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the %s invocation type", limit, invocationType))
		return
	}
	if len(payload) > 0 && !json.Valid(payload) {
		writeRESTError(w, http.StatusBadRequest, "InvalidRequestContentException",
			"Could not parse request body into json: the payload is not valid JSON")
		return
	}
	if invocationType == "DryRun" {
		w.WriteHeader(http.StatusNoContent)
		return
	}

	s.mu.Lock()
	s.invocations[name]++
	if invocationType == "Event" {
		s.async.Add(1)
	}
	s.mu.Unlock()

	if invocationType == "Event" {
		go func() {
			defer s.async.Done()
			_, _ = fn(context.Background(), payload)
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	}

	out, err := fn(r.Context(), payload)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if err == nil && len(out) > maxSyncPayload {
		err = &sizeError{fmt.Sprintf("Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).", len(out), maxSyncPayload)}
	}
	if err != nil {
		out = errorPayload(err)
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// sizeError is Lambda's own error for an oversized response.
type sizeError struct{ msg string }

func (e *sizeError) Error() string     { return e.msg }
func (e *sizeError) ErrorType() string { return "Function.ResponseSizeTooLarge" }

// errorPayload renders a function error the way the Lambda service returns
// it to the invoker.
func errorPayload(err error) []byte {
	var raw interface{ ErrorPayload() []byte }
	if errors.As(err, &raw) {
		if p := raw.ErrorPayload(); len(p) > 0 {
			return p
		}
	}
	var typed interface{ ErrorType() string }
	typ := ""
	if errors.As(err, &typed) {
		typ = typed.ErrorType()
	} else {
		t := reflect.TypeOf(err)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		typ = t.Name()
	}
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{err.Error(), typ})
	return b
}
