// Package atomicfile replaces files whole: readers see the old content or
// the new, never a part, and a crash leaves the old file in place. The new
// content goes to a hidden temporary file in the same directory (".NAME.tmp-*",
// which globs such as *.prom do not match), is synced and given its
// permissions, renamed over the file, and the directory is synced.
package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// rename is os.Rename; tests replace it to stop a write just before the
// rename, as a crash would.
var rename = os.Rename

// WriteFile replaces path with data, made perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with what write writes, made perm. The writer is
// buffered; an error from write leaves path untouched and is returned.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	w := bufio.NewWriter(tmp)
	if err := errors.Join(write(w), w.Flush(), tmp.Chmod(perm), tmp.Sync()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
