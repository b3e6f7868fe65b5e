package e2b

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrSandboxNotFound: the sandbox is gone (killed, expired or never
	// there). E2B's edge says so with 502 "The sandbox was not found"
	// on the sandbox host, the API with 404.
	ErrSandboxNotFound = errors.New("e2b: sandbox not found")
	// ErrNoAPIKey: no API key was given (WithAPIKey) nor found in
	// E2B_API_KEY.
	ErrNoAPIKey = errors.New("e2b: no API key: set E2B_API_KEY or use WithAPIKey")
	// ErrClosed: a Target's method was called after its Close began.
	ErrClosed = errors.New("e2b: target is closed")
	// ErrStreamLost: a process's output stream broke and could not be
	// joined again, so how the process ended is not known.
	ErrStreamLost = errors.New("e2b: process stream lost")
)

// APIError is an error answer of E2B's control-plane API (its Error
// schema: code, message and, on some, error_code).
type APIError struct {
	// Status is the HTTP status, such as 429.
	Status int
	// Code is the machine-readable error_code when the API sends one,
	// such as "sandbox_capacity_unavailable".
	Code    string
	Message string
}

func (e *APIError) Error() string {
	s := "e2b api: " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes a 404 match ErrSandboxNotFound: the API's operations on a
// sandbox answer 404 when it is gone.
func (e *APIError) Is(target error) bool {
	return target == ErrSandboxNotFound && e.Status == 404
}

// RPCError is an error of envd's Connect services: a Connect code such as
// "not_found" or "invalid_argument" and a message.
type RPCError struct {
	Code    string
	Message string
}

func (e *RPCError) Error() string {
	if e.Message == "" {
		return "envd: " + e.Code
	}
	return "envd: " + e.Code + ": " + e.Message
}

// HTTPError is an error answer of the sandbox host that is not a Connect
// error: from envd's HTTP API (files, metrics) or from E2B's edge.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("sandbox host: %d: %s", e.Status, e.Message)
}

// ExitError is the error of a command that ran and did not exit 0.
type ExitError struct {
	// Code is the exit code, or -1 when a signal ended the process.
	Code int
	// Status is envd's description, such as "exit status 1" or
	// "signal: killed".
	Status string
}

func (e *ExitError) Error() string {
	if e.Status != "" {
		return e.Status
	}
	return "exit status " + strconv.Itoa(e.Code)
}
