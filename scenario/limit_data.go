package scenario

import "github.com/chaoslab-dev/chaoslab"

// limitData closes connections on a link after a number of bytes.
var limitData = chaoslab.Scenario{
	Name:    "limit_data",
	Summary: "close each connection on a link after it carried a number of bytes",
	Params: []chaoslab.ParamSpec{
		{Name: "bytes", Kind: chaoslab.KindSize, Default: "64KB", Help: "bytes a connection carries in the direction before it is closed, such as 64KB"},
		directionParam("downstream"),
		toxicityParam(),
		linkParam("the first dependency, else ingress"),
	},
	New: streamFault("limit_data"),
}
