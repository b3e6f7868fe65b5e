package scenario

import (
	"context"

	"github.com/chaoslab-dev/chaoslab"
)

// httpDelay delays the responses to a share of the HTTP requests on a link:
// each chosen request reaches the service at once, and its response waits
// delay±jitter before it goes back to the client.
var httpDelay = chaoslab.Scenario{
	Name:    "http_delay",
	Summary: "delay the responses to a share of HTTP requests",
	Params: []chaoslab.ParamSpec{
		{Name: "delay", Kind: chaoslab.KindDuration, Default: "200ms", Help: "added before each chosen response goes back; the request goes on at once"},
		{Name: "jitter", Kind: chaoslab.KindDelay, Default: "0s", Help: "random spread around the delay"},
		{Name: "rate", Kind: chaoslab.KindFraction, Default: "1", Help: "share of matching requests delayed (0 to 1, or 25%)"},
		methodParam(),
		pathPrefixParam(),
		linkParam("ingress"),
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return chaoslab.InjectorFunc(func(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
			return linkFault(ctx, t, c, "http_delay", false)
		}), nil
	},
}
