// Command vulngate reads govulncheck's JSON stream on stdin and fails when
// the code calls a known vulnerability that the accepted file does not
// list. Each accepted line is "ID reason..."; an accepted ID that no longer
// turns up is reported so the file does not outlive its reasons.
//
//	go tool govulncheck -format json ./... | go run ./internal/cmd/vulngate -accepted .ci/vulnerabilities-accepted
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
)

// message is one object of govulncheck's JSON stream; only findings matter.
type message struct {
	Finding *finding `json:"finding"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

// called is what the code reaches: a finding whose trace starts at a
// function, as opposed to one only in an imported package or module.
type called struct {
	module, version, fixed, symbol string
}

func main() {
	accepted := flag.String("accepted", "", "file of accepted vulnerability IDs, one per line with its reason")
	flag.Parse()
	if err := gate(os.Stdin, *accepted, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(1)
	}
}

func gate(stream io.Reader, acceptedPath string, out io.Writer) error {
	accepted, err := readAccepted(acceptedPath)
	if err != nil {
		return err
	}
	found, err := readFindings(stream)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var refused []string
	for _, id := range ids {
		c := found[id]
		line := fmt.Sprintf("%s in %s@%s (fixed in %s), called through %s", id, c.module, c.version, c.fixed, c.symbol)
		if reason, ok := accepted[id]; ok {
			fmt.Fprintf(out, "accepted: %s: %s\n", line, reason)
			continue
		}
		refused = append(refused, line)
	}
	for _, id := range slices.Sorted(maps.Keys(accepted)) {
		if _, ok := found[id]; !ok {
			fmt.Fprintf(out, "no longer found: %s (remove it from %s)\n", id, acceptedPath)
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%d called vulnerabilities not accepted:\n  %s", len(refused), strings.Join(refused, "\n  "))
	}
	fmt.Fprintf(out, "vulngate: %d called vulnerabilities, all accepted\n", len(found))
	return nil
}

// readFindings returns the called findings by OSV ID.
func readFindings(r io.Reader) (map[string]called, error) {
	found := map[string]called{}
	dec := json.NewDecoder(bufio.NewReader(r))
	seen := false
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("govulncheck output: %w", err)
		}
		seen = true
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue
		}
		if _, ok := found[f.OSV]; ok {
			continue
		}
		top := f.Trace[0]
		symbol := top.Package + "." + top.Function
		if top.Receiver != "" {
			symbol = top.Package + "." + strings.TrimPrefix(top.Receiver, "*") + "." + top.Function
		}
		found[f.OSV] = called{module: top.Module, version: top.Version, fixed: f.FixedVersion, symbol: symbol}
	}
	if !seen {
		return nil, errors.New("govulncheck wrote nothing")
	}
	return found, nil
}

// readAccepted reads "ID reason" lines; blank lines and # comments are skipped.
func readAccepted(path string) (map[string]string, error) {
	accepted := map[string]string{}
	if path == "" {
		return accepted, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: %s has no reason", path, i+1, id)
		}
		accepted[id] = strings.TrimSpace(reason)
	}
	return accepted, nil
}
