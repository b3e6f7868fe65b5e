// Package e2bfake is a fake of E2B (https://e2b.dev) for tests: its
// control-plane REST API and, for each sandbox, envd's HTTP API and Connect
// services, over real HTTP on 127.0.0.1. Sandboxes are directories on this
// machine and the commands they are sent really run.
//
// It is written from E2B's published specifications, in e2b-dev/E2B at
// commit b8029973aa7da5f741f7bb1a9f833b38a0885438 (the spec files last
// changed in f89f8c3f9650825fa84fcd0e126a193648fd821d; they are synced from
// e2b-dev/infra at e19a12b8fc5d318c6e88a8edba0a94d1f153a841):
//
//   - spec/openapi.yml: the control plane (sandbox operations only);
//   - spec/envd/envd.yaml: envd's HTTP API (/health, /files, /envs, /metrics);
//   - spec/envd/process/process.proto and spec/envd/filesystem/filesystem.proto:
//     envd's Connect services;
//
// and from how the official SDKs (packages/js-sdk, packages/python-sdk)
// reach them, and envd's sources for behaviour the specs leave open.
//
// # Wire
//
// Control plane, at APIURL (for E2B_API_URL): every request but GET /health
// carries the key in X-API-Key, or is answered 401 {"code":401,"message":…}.
// Served: POST/GET /sandboxes, GET /v2/sandboxes (metadata, state, template,
// startedAfter, order, limit, nextToken; X-Next-Token and X-Total-Running),
// GET/DELETE /sandboxes/{id}, POST /sandboxes/{id}/timeout, /refreshes,
// /pause, /resume, /connect, GET /sandboxes/{id}/metrics and
// GET /sandboxes/metrics?sandbox_ids=. Errors are the spec's Error,
// {"code":status,"message":…}. A sandbox created without a timeout lives
// DefaultTimeout (15 s), the spec's default, not the SDKs' 300 s.
//
// Sandbox host, at SandboxURL (for E2B_SANDBOX_URL): as on E2B's shared
// sandbox host, a request names its sandbox in E2b-Sandbox-Id and its port
// in E2b-Sandbox-Port; a Host of the form {port}-{sandboxID}.{Domain()} is
// routed too. Port 49983 (EnvdPort) is envd; any other port N is proxied
// to 127.0.0.1:N, where a command of the sandbox listens (the sandbox's
// processes share this machine's network), or answered 502
// {"sandboxId":…,"message":"The sandbox is running but port is not open","port":N,"code":502}.
// A sandbox that is killed, expired, paused or unknown answers 502
// {"sandboxId":…,"message":"The sandbox was not found","code":502}, which the
// SDKs read as "sandbox timed out". Sandboxes created with secure: true
// require their envdAccessToken in X-Access-Token on every envd call but
// GET /health; GET and POST /files also take the SDK's v1_ signature.
//
// envd's Connect services are at /process.Process/{Start,Connect,List,
// SendSignal,SendInput,StreamInput,CloseStdin} and
// /filesystem.Filesystem/{Stat,MakeDir,Move,ListDir,Remove}, with the JSON
// codec: a unary call is a POST of application/json answered with
// application/json, or with a Connect error {"code":"not_found","message":…}
// and its HTTP status (404; invalid_argument 400, unauthenticated 401,
// already_exists 409, unimplemented 501, internal 500…). A server stream is
// a POST of application/connect+json whose body is one envelope (a flags
// byte, then the big-endian uint32 length, then the JSON message); it is
// answered 200 with envelopes of flag 0 and a last one of flag 0x02 holding
// {} or {"error":{…}}. Connect-Timeout-Ms and Connect-Protocol-Version are
// honoured; gzip request compression is read, answers are not compressed.
// A user may be named in Authorization: Basic base64("user:") ("user", the
// default, or "root").
//
// Messages follow the proto3 JSON mapping: lowerCamelCase names, fields at
// their zero value left out (a successful end event has no exitCode),
// 64-bit integers as strings (EntryInfo.size), 32-bit ones as numbers (pid),
// bytes in base64 (stdout, stderr, stdin), enums by name
// ("SIGNAL_SIGKILL", "FILE_TYPE_FILE"), timestamps in RFC 3339. Start
// answers {"event":{"start":{"pid":N}}}, then {"event":{"data":{"stdout":…}}}
// or stderr, chunks passed on as read (a UTF-8 character may be split
// between two), {"event":{"keepalive":{}}} when idle for
// Keepalive-Ping-Interval seconds (90 by default), and
// {"event":{"end":{"exitCode":N,"exited":true,"status":"exit status N","error":"exit status N"}}},
// or, for a killed process, exitCode -1, status and error "signal: killed".
//
// # Behaviour
//
// A sandbox is a temporary directory standing for its root: the paths of
// the file services and of /files are mapped into it (/home/user/a is
// DIR/home/user/a), relative paths and "~" are under the user's home. A
// command runs as given (the SDKs send cmd "/bin/bash", args
// ["-l","-c",command]) in its own process group, with the working directory
// mapped likewise (the user's home by default), HOME and TMPDIR inside the
// sandbox directory, and envd's environment: PATH, HOME, USER, LOGNAME,
// E2B_SANDBOX, E2B_SANDBOX_ID, E2B_TEAM_ID, E2B_TEMPLATE_ID, the sandbox's
// envVars, then the request's envs (and, last, E2BFAKE_SANDBOX_ID, by
// which the fake recognises the sandbox's orphans). As on E2B, a process outlives the
// stream that started it: a client that leaves (or a stream that breaks)
// does not stop it; SendSignal does (to the process, not its group, as
// envd), and so does its Connect-Timeout-Ms, which envd applies to the
// process itself. SendSignal accepts the proto enum's SIGKILL and SIGTERM
// (by name or number); SIGNAL_UNSPECIFIED is unimplemented, as in envd.
//
// At its deadline (or on DELETE, Kill, Close) a sandbox is killed: SIGKILL
// to the process group of every command it started, its open streams
// broken without an end event, its directory removed. Pause stops those
// groups with SIGSTOP (kills them for memory: false) and resume or connect
// continues them; autoPause pauses at the deadline instead of killing.
//
// Requests are checked against the specs and refused as the services
// refuse them: a REST body that does not fit its schema gets 400; a Connect
// message that is not valid proto JSON for its type (a number for a string,
// a string for a repeated field, bad base64, two members of a oneof) gets
// invalid_argument. The fake is stricter than E2B in one way, to catch
// sloppy clients: unknown fields (in REST bodies and Connect messages) and
// unknown enum names are refused, where E2B's validators and connect-go
// ignore them.
//
// # Simplified
//
// Commands run as this machine's user, on its file system and network: only
// their working directory, HOME and TMPDIR are inside the sandbox, so an
// absolute path in a command line is the host's, and ports are shared
// between sandboxes. PTYs (Start with pty, Update) and directory watching
// are unimplemented; file metadata (X-Metadata-*) is ignored and /files/compose
// not served, which fits the envd version the fake reports (EnvdVersion,
// 0.5.7). Templates are not checked (any templateID starts the same empty
// sandbox); network rules, internet access, MCP, IAM are accepted and not
// enforced; volume mounts are refused ("Volume mounts are not enabled.").
// Metrics are one fresh reading per request (CPU since the previous reading,
// resident memory of the sandbox's processes, size of its directory) rather
// than a 5-second series. Logs, snapshots, fork, templates, teams and the
// other non-sandbox operations are not served (404). There is no TLS, so
// clients must be pointed at APIURL and SandboxURL.
//
// Fault switches usable at any time: FailCreates (429 with Retry-After, 503,
// …), FailEnvd (the edge's 502), DropStreams (a process stream cut short
// with no end), SetLatency (slow answers), Kill (a sandbox dying).
package e2bfake
