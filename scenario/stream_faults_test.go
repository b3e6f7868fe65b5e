package scenario_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// TestStreamFaultDefaultsBuildProxyFaults checks that each network fault
// scenario, with its defaults, is a fault the proxy accepts.
func TestStreamFaultDefaultsBuildProxyFaults(t *testing.T) {
	for _, name := range []string{"bandwidth_limit", "network_loss", "network_partition", "timeout", "limit_data", "slicer"} {
		s := mustScenario(t, name)
		params := s.WithDefaults(nil)
		require.NoError(t, chaoslab.Experiment{Faults: []chaoslab.Fault{{Scenario: name, Params: params}}}.Validate(), name)
		c := &capable{links: []string{"ingress", "db"}}
		_, _, err := inject(t, name, nil, c)
		require.NoError(t, err, name)
		require.Len(t, c.applied, 1, name)
		assert.True(t, strings.HasPrefix(c.applied[0], "db:"+name+":"), "%s applied %v; want it on the dependency", name, c.applied)
		f, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: name, Params: params, Seed: 1})
		require.NoError(t, err, name)
		p := netfault.New("127.0.0.1:1")
		remove, err := p.Apply(f)
		require.NoError(t, err, name)
		remove()
		require.NoError(t, p.Close())
	}
}
