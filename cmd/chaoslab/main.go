// Command chaoslab runs chaos experiments from the terminal.
//
//	chaoslab run [flags] [EXPERIMENT_FILE]   run an experiment (default: the demo service under 200 ms of dependency latency)
//	chaoslab scenarios                       list every fault scenario with its parameters and defaults
//	chaoslab validate FILE                   check an experiment file
//
// Exit codes: 0 the hypothesis held, 1 it was violated (or the run could
// not tell), 2 bad input or an error, 130 interrupted (faults reverted
// first).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainWithSignals(os.Args[1:]))
}

// mainWithSignals runs the CLI; the first SIGINT or SIGTERM cancels the
// run, which reverts every fault and stops every process before exiting
// 130; a second one exits at once.
func mainWithSignals(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			n++
			if n == 1 {
				os.Stderr.WriteString("\nchaoslab: interrupted; reverting faults and stopping the target (press Ctrl-C again to quit at once)\n")
				cancel()
				continue
			}
			os.Exit(exitInterrupted)
		}
	}()
	return (&cli{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}).main(ctx, args)
}
