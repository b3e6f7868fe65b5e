package chaoslab

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrUnsupported: a target lacks a capability a fault needs.
	ErrUnsupported = errors.New("unsupported")
	// ErrInvalid: an experiment, scenario parameter or file is not valid.
	ErrInvalid = errors.New("invalid experiment")
	// ErrPanic: a plugin (provider, injector, analyzer, dashboarder, probe,
	// observer) panicked; the Runner recovered and cleaned up.
	ErrPanic = errors.New("plugin panicked")
	// ErrNotFound: a Store has no result under the id.
	ErrNotFound = errors.New("not found")
	// ErrNoProvider: Run was called on a Runner made without WithProvider.
	ErrNoProvider = errors.New("no provider: build the runner with chaoslab.WithProvider")
	// ErrNotReady: a target did not become ready in time.
	ErrNotReady = errors.New("target not ready")
)
