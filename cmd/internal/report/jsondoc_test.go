package report

import (
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/doctable"
)

// TestReadmeJSON keeps README.md's table of diagnose's JSON keys the
// Diagnosis type's (`make docs` rewrites it).
func TestReadmeJSON(t *testing.T) {
	doctable.Check(t, "../../../README.md", "json", JSONMarkdown())
}
