package scenario

import (
	"context"

	"github.com/chaoslab-dev/chaoslab"
)

// bandwidthLimit caps the throughput of each connection on a link.
var bandwidthLimit = chaoslab.Scenario{
	Name:    "bandwidth_limit",
	Summary: "limit each connection on a link to a rate in bytes per second",
	Params: []chaoslab.ParamSpec{
		{Name: "rate", Kind: chaoslab.KindSize, Default: "1MB", Help: "bytes per second per connection and direction, such as 1MB or 64KiB (at least 1)"},
		directionParam("downstream"),
		toxicityParam(),
		linkParam("the first dependency, else ingress"),
	},
	New: streamFault("bandwidth_limit"),
}

// directionParam is the way a stream fault acts on.
func directionParam(def string) chaoslab.ParamSpec {
	return chaoslab.ParamSpec{Name: "direction", Kind: chaoslab.KindChoice, Default: def, Choices: []string{"upstream", "downstream", "both"},
		Help: "upstream acts on client-to-server bytes, downstream on server-to-client, both on each"}
}

// toxicityParam is the share of connections a stream fault affects.
func toxicityParam() chaoslab.ParamSpec {
	return chaoslab.ParamSpec{Name: "toxicity", Kind: chaoslab.KindFraction, Default: "1",
		Help: "share of connections affected, drawn per connection from the run's seed (0 to 1, or 25%)"}
}

// streamFault builds the injector of a fault on the TCP streams of a link;
// it needs a link proxied in TCP mode.
func streamFault(kind string) func(chaoslab.FaultConfig) (chaoslab.Injector, error) {
	return func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return chaoslab.InjectorFunc(func(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
			return linkFault(ctx, t, c, kind, true)
		}), nil
	}
}
