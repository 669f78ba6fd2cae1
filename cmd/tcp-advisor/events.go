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

// kernelEventsLine says the same for a person: "kernel events: available",
// or "kernel events unavailable: REASON". The agent's STATUS line says the
// same for the agent.
func kernelEventsLine() string {
	if ev := kernelEventsStatus(); !ev.Available {
		return ev.Unavailable
	}
	return "kernel events: available (connection events from the sock:inet_sock_set_state tracepoint)"
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
