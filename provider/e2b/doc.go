// Package e2b is the chaoslab provider that runs targets in E2B cloud
// sandboxes (https://e2b.dev). It is a client of E2B written over net/http
// and encoding/json from E2B's published specifications (spec/ of
// e2b-dev/E2B): the control plane's OpenAPI spec, envd's HTTP API, and
// envd's process and filesystem services, spoken with the Connect
// protocol's JSON codec.
//
// # Configuration
//
// New reads the variables the official SDKs read, and options override
// them: E2B_API_KEY (sent in X-API-Key), E2B_DOMAIN (default e2b.app),
// E2B_API_URL (default https://api.<domain>) and E2B_SANDBOX_URL (one base
// URL for every sandbox and port, which requests name in the
// E2b-Sandbox-Id and E2b-Sandbox-Port headers; by default a sandbox's
// port is https://<port>-<sandbox id>.<domain>). TargetSpec.Options takes
// "template", "sandbox_timeout" (a duration), "run_id" and "upload"
// (LOCAL=REMOTE pairs, comma-separated: files copied into the sandbox
// before the command starts, executable ones kept executable).
//
// # A target
//
// Provision creates a sandbox from the template with an explicit timeout
// (E2B gives 15 seconds when none is sent), secure (envd then wants the
// sandbox's access token in X-Access-Token) and metadata naming chaoslab,
// the run, the target, and the host and pid that made it. While the target
// is open its timeout is renewed every third of it, so that a sandbox
// whose chaoslab died expires on its own; Close kills it (a sandbox already
// gone counts as killed), and Cleanup kills those whose run is gone.
//
// In the sandbox, chaoslab uploads its agent (package agent: a static
// Linux executable built from this module's source with the Go toolchain,
// once per Provider and architecture, or given with WithAgent) and runs:
//
//   - the fault proxies, behind Toxiproxy's HTTP API (what
//     `chaoslab proxy --api` serves), one per link: "ingress" before the
//     service, and one per dependency, whose address the target finds in
//     the dependency's environment variable;
//   - for kind demo, the demo service and its downstream dependency (the
//     link "downstream"); for kind command, TargetSpec.Command, with its
//     Env and the dependencies' variables, in TargetSpec.Dir (default the
//     user's home). Address is where the command listens in the sandbox.
//     Kind address is not supported.
//
// The target's main process is supervised from here through its output
// stream: its output is the target's log, and when it ends it is started
// again according to TargetSpec.Restart (default always for the demo,
// on-failure for a command), on the same port. Helpers bind 127.0.0.1 in
// the sandbox by default (WithListenHost).
//
// The Endpoint is on this machine: an HTTP-aware fault proxy (where the
// ingress's HTTP faults act) before a relay that forwards each request to
// the in-sandbox ingress proxy through the sandbox host, adding the
// headers that route it. Load and probes thus reach the target through the
// sandbox's host.
//
// # Capabilities
//
// A Target is a Router (stream faults on every link through the in-sandbox
// proxies; http_errors and http_delay on ingress only, since the
// Toxiproxy API forwards TCP), a Signaler (SIGKILL and SIGTERM through
// envd; SIGSTOP, SIGCONT and the others through the agent), a Sampler (the
// sandbox's CPU, memory and disk, from envd's /metrics), a Stressor (cpu,
// memory and disk pressure by the agent; more than the sandbox has is
// ErrUnsupported), a LogSource and an Execer, and it reads and writes the
// sandbox's files.
//
// # The pitfalls, handled
//
// Streams are never bounded by a client Timeout (WithRequestTimeout bounds
// unary calls only, and a client given with a Timeout is copied without
// it). A long-running process is started without Connect-Timeout-Ms,
// which envd would kill it at. Cancelling a command sends SIGKILL, then
// closes its stream (closing alone leaves it running). A command's start
// is never tried again: when its outcome is unknown the process is looked
// up by its tag and killed. A stream that breaks is joined again with
// Connect, and one silent for longer than twice envd's keepalive interval
// counts as broken. Sandbox creation is tried again on 429 and 503, with
// backoff or as Retry-After says; a creation whose answer is lost is
// followed by a sweep of sandboxes carrying the target's id. The edge's
// 502 "The sandbox was not found" is ErrSandboxNotFound. 64-bit integers
// are read from strings or numbers, a missing exitCode is 0, and output is
// cut into lines only at newlines, so that a UTF-8 character split
// between two chunks arrives whole.
//
// Building the agent needs the Go toolchain and this module's source
// (found from where this package was compiled, or with `go list -m`);
// without them, pass a prebuilt agent with WithAgent.
package e2b
