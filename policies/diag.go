package policies

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnostics writes one line per diagnostic, what `tcp-advisor
// validate` prints: "file:line:column: summary; detail" for errors and
// "file:line:column: warning: summary; detail" for warnings. A diagnostic
// about a whole file (one that cannot be read) has no line and column.
func FormatDiagnostics(w io.Writer, diags hcl.Diagnostics) {
	for _, d := range diags {
		var b strings.Builder
		if s := d.Subject; s != nil {
			b.WriteString(s.Filename)
			if s.Start.Line > 0 {
				fmt.Fprintf(&b, ":%d:%d", s.Start.Line, s.Start.Column)
			}
			b.WriteString(": ")
		}
		if d.Severity == hcl.DiagWarning {
			b.WriteString("warning: ")
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString("; ")
			b.WriteString(strings.Join(strings.Fields(d.Detail), " "))
		}
		b.WriteByte('\n')
		io.WriteString(w, b.String())
	}
}
