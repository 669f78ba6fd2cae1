package netns

import (
	"strings"
	"testing"
)

func FuzzContainerFromPath(f *testing.F) {
	id := strings.Repeat("ab", 32)
	f.Add("/system.slice/docker-" + id + ".scope")
	f.Add("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-" + id + ".scope")
	f.Add("/kubepods/pod0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/" + id)
	f.Add("/docker/" + id)
	f.Fuzz(func(t *testing.T, path string) {
		c := ContainerFromPath(path)
		if c == nil {
			return
		}
		if c.ID != "" && (len(c.ID) != 64 || !strings.Contains(path, c.ID)) {
			t.Errorf("id %q from %q", c.ID, path)
		}
		if strings.Contains(c.PodUID, "_") {
			t.Errorf("pod UID %q keeps underscores", c.PodUID)
		}
		if c.ID == "" && c.PodUID == "" {
			t.Errorf("empty container from %q", path)
		}
	})
}
