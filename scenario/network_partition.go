package scenario

import "github.com/chaoslab-dev/chaoslab"

// networkPartition cuts a link off, both ways.
var networkPartition = chaoslab.Scenario{
	Name:    "network_partition",
	Summary: "cut a link off: blackhole its traffic or refuse its connections",
	Params: []chaoslab.ParamSpec{
		{Name: "mode", Kind: chaoslab.KindChoice, Default: "blackhole", Choices: []string{"blackhole", "refuse"},
			Help: "blackhole accepts connections but forwards and answers nothing; refuse resets new and existing connections"},
		toxicityParam(),
		linkParam("the first dependency, else ingress"),
	},
	New: streamFault("network_partition"),
}
