package netfault

import (
	"fmt"

	"github.com/chaoslab-dev/chaoslab"
)

// PartitionMode is how Partition cuts a connection off.
type PartitionMode int

const (
	// Blackhole accepts new connections but neither forwards nor answers
	// anything, on new or existing connections, until the fault is
	// removed; new connections are dialled upstream only then.
	Blackhole PartitionMode = iota
	// Refuse resets new connections as soon as they are accepted (the
	// listener stays open, so this stands for a refused connection) and
	// resets existing ones when the fault is added.
	Refuse
)

// String returns "blackhole" or "refuse".
func (m PartitionMode) String() string {
	if m == Refuse {
		return "refuse"
	}
	return "blackhole"
}

// Partition cuts the link: see PartitionMode. It always acts both ways;
// Share.Direction is ignored.
type Partition struct {
	Mode PartitionMode
	Share
}

// Kind returns "network_partition".
func (Partition) Kind() string { return "network_partition" }

// String describes the fault, for logs.
func (p Partition) String() string {
	return fmt.Sprintf("network_partition %v toxicity %g", p.Mode, p.Toxicity)
}

func (p Partition) activate(httpMode bool) (*active, error) {
	p.Direction = Both
	if err := p.check(p.Kind(), httpMode); err != nil {
		return nil, err
	}
	if p.Mode < Blackhole || p.Mode > Refuse {
		return nil, fmt.Errorf("network_partition: mode %d: %w", p.Mode, chaoslab.ErrInvalid)
	}
	return p.Share.activate(p.Kind(), partitionRule{mode: p.Mode}), nil
}

type partitionRule struct {
	passRule
	mode PartitionMode
}

func (r partitionRule) verdict() action {
	if r.mode == Refuse {
		return actReset
	}
	return actHold
}

func (r partitionRule) start(*session, *connFault) action {
	if r.mode == Refuse {
		return actReset
	}
	return actPass
}

func (r partitionRule) admit(*connFault) action { return r.verdict() }

func (r partitionRule) take(*connFault, Direction, int, bool) (int, action) {
	return 0, r.verdict()
}
