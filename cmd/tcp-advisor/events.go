package main

import (
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe/connevents"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
)

// kernelEventsStatus says whether the kernel gives this process its
// connection events, by attaching the program and detaching it again.
func kernelEventsStatus() report.KernelEvents {
	tr, err := connevents.Open()
	if err != nil {
		return report.KernelEvents{Unavailable: err.Error()}
	}
	tr.Close()
	return report.KernelEvents{Available: true}
}

// kernelEvents attaches the connection-events program for this process's
// observers (paths.Events), or records why the kernel refused it; the
// function it returns detaches it. The program is global: one serves
// every namespace observed.
func kernelEvents() (detach func()) {
	tr, err := connevents.Open()
	if err != nil {
		paths.Events = observe.Events{Unavailable: err.Error()}
		return func() {}
	}
	paths.Events = observe.Events{Source: connevents.NewLedger(tr)}
	return func() {
		tr.Close()
		paths.Events = observe.Events{}
	}
}
