package scenario

import "github.com/chaoslab-dev/chaoslab"

// networkLoss resets or stalls a share of the connections on a link.
var networkLoss = chaoslab.Scenario{
	Name:    "network_loss",
	Summary: "reset (RST) or silently stall a share of the connections on a link",
	Params: []chaoslab.ParamSpec{
		{Name: "mode", Kind: chaoslab.KindChoice, Default: "reset", Choices: []string{"reset", "stall"},
			Help: "reset ends a connection with RST; stall stops forwarding its data until the fault ends"},
		{Name: "after", Kind: chaoslab.KindSize, Optional: true,
			Help: "act once this many bytes have gone in the direction, such as 10KB (default: at once)"},
		directionParam("both"),
		toxicityParam(),
		linkParam("the first dependency, else ingress"),
	},
	New: streamFault("network_loss"),
}
