package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
)

// WriteSection writes one namespace's section of text output: its header,
// the pre-check's summary if one decided, what body writes, and a blank
// line.
func WriteSection(w io.Writer, n *netns.Namespace, p *PrecheckSection, body func(io.Writer) error) error {
	fmt.Fprint(w, SectionHeader(n))
	if p != nil {
		fmt.Fprintln(w, p.Summary)
	}
	if err := body(w); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteCheckUnknown writes the check line of a check that could not
// judge, for err: UNKNOWN, never OK.
func WriteCheckUnknown(w io.Writer, err error) {
	fmt.Fprintf(w, "TCP-ADVISOR UNKNOWN - %v\n", err)
}

// WriteRecorded writes what a recording written to path over d holds.
func WriteRecorded(w io.Writer, rec *record.Recording, d time.Duration, path string) {
	frames := 0
	for _, s := range rec.Series {
		frames += len(s.Frames)
	}
	fmt.Fprintf(w, "recorded %d frames of %d namespace(s) over %s to %s\n", frames, len(rec.Series), d, path)
}

// WriteQuiet writes the namespaces a diagnosis over several had nothing to
// say about, if any.
func WriteQuiet(w io.Writer, quiet []string) {
	if len(quiet) > 0 {
		fmt.Fprintf(w, "%d namespace(s) with nothing to say: %s\n", len(quiet), JoinNames(quiet))
	}
}

// CheckIn is a check line (Diagnosis.Check) that names namespace n after
// its status word: the worst of several namespaces decides the check.
func CheckIn(line string, n *netns.Namespace) string {
	return strings.Replace(line, " - ", fmt.Sprintf(" - namespace %s: ", n), 1)
}

// WriteNamespaceNames writes every name of every namespace once, one a
// line: the words --netns completes.
func WriteNamespaceNames(w io.Writer, nss []netns.Namespace) error {
	seen := map[string]bool{}
	for _, n := range nss {
		for _, name := range n.Names() {
			if seen[name] {
				continue
			}
			seen[name] = true
			if _, err := fmt.Fprintln(w, name); err != nil {
				return err
			}
		}
	}
	return nil
}
