package scenario

import (
	"context"

	"github.com/chaoslab-dev/chaoslab"
)

// httpErrors answers a share of HTTP requests on a link with an error
// status instead of forwarding them.
var httpErrors = chaoslab.Scenario{
	Name:    "http_errors",
	Summary: "answer a share of HTTP requests with an error status",
	Params: []chaoslab.ParamSpec{
		{Name: "rate", Kind: chaoslab.KindFraction, Default: "0.5", Help: "share of requests answered with status (0 to 1, or 25%)"},
		{Name: "status", Kind: chaoslab.KindStatus, Default: "503", Help: "the status code returned"},
		linkParam("ingress"),
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return chaoslab.InjectorFunc(func(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
			return linkFault(ctx, t, c, "http_errors", false)
		}), nil
	},
}
