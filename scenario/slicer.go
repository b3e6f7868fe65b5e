package scenario

import "github.com/chaoslab-dev/chaoslab"

// slicer splits the data on a link into small pieces sent with delays.
var slicer = chaoslab.Scenario{
	Name:    "slicer",
	Summary: "split the data on a link into small segments with delays between them",
	Params: []chaoslab.ParamSpec{
		{Name: "size", Kind: chaoslab.KindSize, Default: "1KB", Help: "average segment size, such as 512 or 1KB"},
		{Name: "variation", Kind: chaoslab.KindSize, Optional: true, Help: "segment sizes spread this much around size, less than size (default: 0)"},
		{Name: "delay", Kind: chaoslab.KindDelay, Default: "1ms", Help: "pause between the segments of one write"},
		directionParam("downstream"),
		toxicityParam(),
		linkParam("the first dependency, else ingress"),
	},
	New: streamFault("slicer"),
}
