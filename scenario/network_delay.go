package scenario

import (
	"context"

	"github.com/chaoslab-dev/chaoslab"
)

// networkDelay delays traffic on a link. With the default direction
// (upstream) each request's bytes wait latency±jitter before they reach the
// service, so a request-response round trip takes latency longer.
var networkDelay = chaoslab.Scenario{
	Name:    "network_delay",
	Summary: "delay traffic on a link by a latency, with jitter",
	Params: []chaoslab.ParamSpec{
		{Name: "latency", Kind: chaoslab.KindDuration, Default: "200ms", Help: "added to each round trip"},
		{Name: "jitter", Kind: chaoslab.KindDelay, Default: "0s", Help: "random spread around the latency"},
		{Name: "direction", Kind: chaoslab.KindChoice, Default: "upstream", Choices: []string{"upstream", "downstream", "both"},
			Help: "upstream delays client-to-server bytes, downstream server-to-client, both each way"},
		linkParam("the first dependency, else ingress"),
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return chaoslab.InjectorFunc(func(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
			return linkFault(ctx, t, c, "network_delay", true)
		}), nil
	},
}
