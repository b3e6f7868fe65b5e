// Package scenario is chaoslab's built-in fault catalogue and its
// experiment files.
//
// Importing the package registers every built-in scenario with
// chaoslab.RegisterScenario, so experiments can name them:
//
//	import _ "github.com/chaoslab-dev/chaoslab/scenario"
//
// Each scenario lives in a file of its own and acts on a target through the
// capabilities in the root package (Router, Signaler, Stressor); a target
// without the capability gets an error wrapping chaoslab.ErrUnsupported.
// Experiment files are YAML or JSON, decoded strictly by Parse and Load.
package scenario

import (
	"context"
	"fmt"
	"strings"

	"github.com/chaoslab-dev/chaoslab"
)

// The built-in scenarios, in the order `chaoslab scenarios` lists them.
var builtins = []chaoslab.Scenario{
	networkDelay,
	httpErrors,
	httpDelay,
	bandwidthLimit,
	networkLoss,
	networkPartition,
	timeoutFault,
	limitData,
	slicer,
	processKill,
	processPause,
	cpuStress,
	memoryPressure,
	diskFill,
	instanceTermination,
}

func init() {
	for _, s := range builtins {
		chaoslab.RegisterScenario(s)
	}
}

// Builtins returns the built-in scenarios in catalogue order.
func Builtins() []chaoslab.Scenario { return append([]chaoslab.Scenario(nil), builtins...) }

// linkParam is the parameter that picks which link of a Router a network
// fault acts on.
func linkParam(def string) chaoslab.ParamSpec {
	return chaoslab.ParamSpec{
		Name: "link", Kind: chaoslab.KindName, Optional: true,
		Help: "the link to act on: ingress or a dependency's name (default: " + def + ")",
	}
}

// linkFault applies a LinkFault to a target's link. With no link named,
// preferDependency picks the first dependency (else ingress); otherwise
// ingress.
func linkFault(ctx context.Context, t chaoslab.Target, c chaoslab.FaultConfig, kind string, preferDependency bool) (chaoslab.Undo, error) {
	r, ok := t.(chaoslab.Router)
	if !ok {
		return nil, fmt.Errorf("%s: target %s has no fault proxy on its traffic: %w", kind, t.ID(), chaoslab.ErrUnsupported)
	}
	name := c.Params["link"]
	if name == "" {
		links := r.Links()
		if len(links) == 0 {
			return nil, fmt.Errorf("%s: target %s has no links: %w", kind, t.ID(), chaoslab.ErrUnsupported)
		}
		name = links[0]
		if preferDependency {
			for _, l := range links {
				if l != "ingress" {
					name = l
					break
				}
			}
		}
	}
	link, err := r.Link(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	params := c.Params.Clone()
	delete(params, "link")
	undo, err := link.Apply(ctx, chaoslab.LinkFault{Kind: kind, Params: params, Seed: c.Seed})
	if err != nil {
		return nil, fmt.Errorf("%s on link %s: %w", kind, name, err)
	}
	return undo, nil
}

// stress applies resource pressure through the target's Stressor.
func stress(ctx context.Context, t chaoslab.Target, kind string, s chaoslab.Stress) (chaoslab.Undo, error) {
	st, ok := t.(chaoslab.Stressor)
	if !ok {
		return nil, fmt.Errorf("%s: target %s cannot apply %s pressure: %w", kind, t.ID(), s.Kind, chaoslab.ErrUnsupported)
	}
	undo, err := st.Stress(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return undo, nil
}

// signaler returns the target's Signaler.
func signaler(t chaoslab.Target, kind string) (chaoslab.Signaler, error) {
	s, ok := t.(chaoslab.Signaler)
	if !ok {
		return nil, fmt.Errorf("%s: target %s has no process to signal: %w", kind, t.ID(), chaoslab.ErrUnsupported)
	}
	return s, nil
}

// Describe formats a scenario's parameters for listings:
// "latency=200ms jitter=0s direction=upstream link".
func Describe(s chaoslab.Scenario) string {
	parts := make([]string, len(s.Params))
	for i, p := range s.Params {
		switch {
		case p.Default != "":
			parts[i] = p.Name + "=" + p.Default
		default:
			parts[i] = "[" + p.Name + "]"
		}
	}
	return strings.Join(parts, " ")
}
