package agent

// What the provider and the agent agree on. These build everywhere, so
// that the provider does too; the agent itself runs on Unix.

// Version is the agent's protocol version: the provider checks it, so that a
// prebuilt agent that speaks another dialect is refused rather than misread.
const Version = "chaoslab-e2b-agent/1"

// ListeningPrefix starts the line a serving subcommand prints once it
// accepts connections; the address follows.
const ListeningPrefix = "chaoslab-agent: listening on "

// ReadyLine is what cpu and memory print once the pressure is applied.
const ReadyLine = "ready"
