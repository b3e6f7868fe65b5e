package scenario

import "github.com/chaoslab-dev/chaoslab"

// timeoutFault stops a link's data and closes its connections after a
// while, as Toxiproxy's timeout toxic does.
var timeoutFault = chaoslab.Scenario{
	Name:    "timeout",
	Summary: "stop the data on a link's connections and close them after a timeout",
	Params: []chaoslab.ParamSpec{
		{Name: "timeout", Kind: chaoslab.KindDelay, Default: "5s",
			Help: "how long a connection stays open without data once the fault meets it; 0 holds the data without closing"},
		directionParam("both"),
		toxicityParam(),
		linkParam("the first dependency, else ingress"),
	},
	New: streamFault("timeout"),
}
