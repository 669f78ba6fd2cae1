package advisor

import "slices"

// degraded returns the distinct fallbacks the snapshots of a window
// needed, in the order first seen.
func degraded(window []Snapshot) []string {
	var out []string
	for _, s := range window {
		for _, d := range s.Degraded {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}
