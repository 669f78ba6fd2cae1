package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/common/expfmt"
)

// TextfileMode is the textfile's permission: node_exporter reads it as
// another user (prometheus on Debian), whatever the agent's umask.
const TextfileMode = 0o644

// WriteTextfile writes every family in the Prometheus text format to path,
// atomically: a hidden temporary file in the same directory (node_exporter
// reads only *.prom files, so it never sees a half-written one), synced,
// made TextfileMode and renamed over path.
func (m *Metrics) WriteTextfile(path string) (err error) {
	mfs, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriter(tmp)
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			tmp.Close()
			return fmt.Errorf("write %s: %w", tmp.Name(), err)
		}
	}
	if err := errors.Join(w.Flush(), tmp.Chmod(TextfileMode), tmp.Sync()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
