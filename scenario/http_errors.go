package scenario

import (
	"context"

	"github.com/chaoslab-dev/chaoslab"
)

// httpErrors answers a share of HTTP requests on a link with an error
// status instead of forwarding them, or aborts them.
var httpErrors = chaoslab.Scenario{
	Name:    "http_errors",
	Summary: "answer a share of HTTP requests with an error status, or abort them",
	Params: []chaoslab.ParamSpec{
		{Name: "rate", Kind: chaoslab.KindFraction, Default: "0.5", Help: "share of matching requests answered with status (0 to 1, or 25%)"},
		{Name: "status", Kind: chaoslab.KindStatus, Default: "503", Help: "the status code returned"},
		{Name: "abort", Kind: chaoslab.KindChoice, Default: "false", Choices: []string{"false", "true"},
			Help: "true resets the client connection (TCP RST) of the chosen requests instead of answering status"},
		methodParam(),
		pathPrefixParam(),
		linkParam("ingress"),
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return chaoslab.InjectorFunc(func(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
			return linkFault(ctx, t, c, "http_errors", false)
		}), nil
	},
}

// methodParam restricts an HTTP fault to the requests of one method.
func methodParam() chaoslab.ParamSpec {
	return chaoslab.ParamSpec{Name: "method", Kind: chaoslab.KindName, Optional: true,
		Help: "act only on requests of this method, case-sensitive, such as GET (default: any)"}
}

// pathPrefixParam restricts an HTTP fault to the requests whose path has a
// prefix.
func pathPrefixParam() chaoslab.ParamSpec {
	return chaoslab.ParamSpec{Name: "path_prefix", Kind: chaoslab.KindName, Optional: true,
		Help: "act only on requests whose path begins with this, such as /api/ (default: any)"}
}
