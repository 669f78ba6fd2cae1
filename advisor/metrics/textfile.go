package metrics

import (
	"fmt"
	"io"

	"github.com/prometheus/common/expfmt"

	"github.com/tcp-advisor/tcp-advisor/internal/atomicfile"
)

// TextfileMode is the textfile's permission: node_exporter reads it as
// another user (prometheus on Debian), whatever the agent's umask.
const TextfileMode = 0o644

// WriteTextfile writes every family in the Prometheus text format to path,
// atomically (atomicfile: node_exporter reads only *.prom files, so it never
// sees the hidden temporary file) and made TextfileMode.
func (m *Metrics) WriteTextfile(path string) error {
	mfs, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	err = atomicfile.Write(path, TextfileMode, func(w io.Writer) error {
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
