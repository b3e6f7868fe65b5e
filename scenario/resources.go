package scenario

import (
	"context"

	"github.com/chaoslab-dev/chaoslab"
)

// cpuStress keeps cores busy on the target's machine.
var cpuStress = chaoslab.Scenario{
	Name:    "cpu_stress",
	Summary: "keep CPU cores busy on the target's machine",
	Params: []chaoslab.ParamSpec{
		{Name: "cores", Kind: chaoslab.KindCount, Default: "1", Help: "how many cores to load"},
		{Name: "percent", Kind: chaoslab.KindPercent, Default: "100", Help: "how busy to keep each core"},
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		s := chaoslab.Stress{Kind: chaoslab.StressCPU, Cores: c.Params.Int("cores"), Percent: c.Params.Float("percent")}
		return stressInjector{name: "cpu_stress", s: s}, nil
	},
}

// memoryPressure holds memory on the target's machine.
var memoryPressure = chaoslab.Scenario{
	Name:    "memory_pressure",
	Summary: "allocate and hold memory on the target's machine",
	Params: []chaoslab.ParamSpec{
		{Name: "size", Kind: chaoslab.KindSize, Default: "256MB", Help: "how much memory to hold"},
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return stressInjector{name: "memory_pressure", s: chaoslab.Stress{Kind: chaoslab.StressMemory, Bytes: c.Params.Size("size")}}, nil
	},
}

// diskFill writes a file into the target's working directory.
var diskFill = chaoslab.Scenario{
	Name:    "disk_fill",
	Summary: "fill the disk of the target's working directory with a file",
	Params: []chaoslab.ParamSpec{
		{Name: "size", Kind: chaoslab.KindSize, Default: "512MB", Help: "how much to write"},
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return stressInjector{name: "disk_fill", s: chaoslab.Stress{Kind: chaoslab.StressDisk, Bytes: c.Params.Size("size")}}, nil
	},
}

type stressInjector struct {
	name string
	s    chaoslab.Stress
}

func (i stressInjector) Inject(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
	return stress(ctx, t, i.name, i.s)
}
