//go:build unix

package e2bfake

// The request messages of envd's Connect services, from
// spec/envd/process/process.proto and spec/envd/filesystem/filesystem.proto.

var (
	pbProcessConfig = &pbSchema{name: "process.ProcessConfig", fields: []pbField{
		{name: "cmd", proto: "cmd", kind: pbString},
		{name: "args", proto: "args", kind: pbStrings},
		{name: "envs", proto: "envs", kind: pbStringMap},
		{name: "cwd", proto: "cwd", kind: pbString},
	}}
	pbPTYSize = &pbSchema{name: "process.PTY.Size", fields: []pbField{
		{name: "cols", proto: "cols", kind: pbUint32},
		{name: "rows", proto: "rows", kind: pbUint32},
	}}
	pbPTY = &pbSchema{name: "process.PTY", fields: []pbField{
		{name: "size", proto: "size", kind: pbMessage, msg: pbPTYSize},
	}}
	pbProcessSelector = &pbSchema{name: "process.ProcessSelector", fields: []pbField{
		{name: "pid", proto: "pid", kind: pbUint32, oneof: "selector"},
		{name: "tag", proto: "tag", kind: pbString, oneof: "selector"},
	}}
	pbProcessInput = &pbSchema{name: "process.ProcessInput", fields: []pbField{
		{name: "stdin", proto: "stdin", kind: pbBytes, oneof: "input"},
		{name: "pty", proto: "pty", kind: pbBytes, oneof: "input"},
	}}
	pbEmpty = func(name string) *pbSchema { return &pbSchema{name: name} }

	pbStartRequest = &pbSchema{name: "process.StartRequest", fields: []pbField{
		{name: "process", proto: "process", kind: pbMessage, msg: pbProcessConfig},
		{name: "pty", proto: "pty", kind: pbMessage, msg: pbPTY},
		{name: "tag", proto: "tag", kind: pbString},
		{name: "stdin", proto: "stdin", kind: pbBool},
	}}
	pbConnectRequest = &pbSchema{name: "process.ConnectRequest", fields: []pbField{
		{name: "process", proto: "process", kind: pbMessage, msg: pbProcessSelector},
	}}
	pbListRequest   = pbEmpty("process.ListRequest")
	pbUpdateRequest = &pbSchema{name: "process.UpdateRequest", fields: []pbField{
		{name: "process", proto: "process", kind: pbMessage, msg: pbProcessSelector},
		{name: "pty", proto: "pty", kind: pbMessage, msg: pbPTY},
	}}
	pbSendInputRequest = &pbSchema{name: "process.SendInputRequest", fields: []pbField{
		{name: "process", proto: "process", kind: pbMessage, msg: pbProcessSelector},
		{name: "input", proto: "input", kind: pbMessage, msg: pbProcessInput},
	}}
	pbStreamInputRequest = &pbSchema{name: "process.StreamInputRequest", fields: []pbField{
		{name: "start", proto: "start", kind: pbMessage, oneof: "event", msg: &pbSchema{
			name: "process.StreamInputRequest.StartEvent", fields: []pbField{
				{name: "process", proto: "process", kind: pbMessage, msg: pbProcessSelector},
			}}},
		{name: "data", proto: "data", kind: pbMessage, oneof: "event", msg: &pbSchema{
			name: "process.StreamInputRequest.DataEvent", fields: []pbField{
				{name: "input", proto: "input", kind: pbMessage, msg: pbProcessInput},
			}}},
		{name: "keepalive", proto: "keepalive", kind: pbMessage, oneof: "event",
			msg: pbEmpty("process.StreamInputRequest.KeepAlive")},
	}}
	pbSendSignalRequest = &pbSchema{name: "process.SendSignalRequest", fields: []pbField{
		{name: "process", proto: "process", kind: pbMessage, msg: pbProcessSelector},
		{name: "signal", proto: "signal", kind: pbEnum, enum: map[string]int32{
			"SIGNAL_UNSPECIFIED": 0, "SIGNAL_SIGTERM": 15, "SIGNAL_SIGKILL": 9,
		}},
	}}
	pbCloseStdinRequest = &pbSchema{name: "process.CloseStdinRequest", fields: []pbField{
		{name: "process", proto: "process", kind: pbMessage, msg: pbProcessSelector},
	}}

	pbPathRequest = func(name string) *pbSchema {
		return &pbSchema{name: name, fields: []pbField{{name: "path", proto: "path", kind: pbString}}}
	}
	pbStatRequest    = pbPathRequest("filesystem.StatRequest")
	pbMakeDirRequest = pbPathRequest("filesystem.MakeDirRequest")
	pbRemoveRequest  = pbPathRequest("filesystem.RemoveRequest")
	pbMoveRequest    = &pbSchema{name: "filesystem.MoveRequest", fields: []pbField{
		{name: "source", proto: "source", kind: pbString},
		{name: "destination", proto: "destination", kind: pbString},
	}}
	pbListDirRequest = &pbSchema{name: "filesystem.ListDirRequest", fields: []pbField{
		{name: "path", proto: "path", kind: pbString},
		{name: "depth", proto: "depth", kind: pbUint32},
	}}
)
