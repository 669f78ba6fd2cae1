package remediate

import (
	"errors"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// TestCheckNamespaceIdentity: which namespace a state belongs to is decided
// by the cookie and the boot id, never by the inode alone, which a new
// namespace gets back at once; a state written before cookies were
// recorded is still read, by its inode.
func TestCheckNamespaceIdentity(t *testing.T) {
	const boot, oldBoot = "0e2b1c4a-7a3f-4c6e-9d10-5b2f8c1d9e77", "a9d4c1e2-3b5f-4e8a-8c7d-2f1e0b9a6c55"
	here := advisor.Netns{Inode: 4026532174, Cookie: 42, BootID: boot}
	none := func(advisor.Netns) (bool, error) { return false, nil }
	some := func(advisor.Netns) (bool, error) { return true, nil }
	tests := []struct {
		name      string
		recorded  advisor.Netns
		alive     Alive
		want      string // "", "elsewhere" or "gone"
		otherBoot bool
	}{
		{"same cookie and boot", here, none, "", false},
		{"same namespace, inode moved", advisor.Netns{Inode: 4026532999, Cookie: 42, BootID: boot}, none, "", false},
		// A rebooted container gets its old inode back.
		{"earlier boot, same inode", advisor.Netns{Inode: here.Inode, Cookie: 42, BootID: oldBoot}, some, "gone", true},
		{"same inode, another cookie, gone", advisor.Netns{Inode: here.Inode, Cookie: 7, BootID: boot}, none, "gone", false},
		{"another cookie still alive", advisor.Netns{Inode: 4026532175, Cookie: 7, BootID: boot}, some, "elsewhere", false},
		{"another cookie, unknown if alive", advisor.Netns{Inode: 4026532175, Cookie: 7, BootID: boot}, nil, "elsewhere", false},
		// Written before cookies were recorded: the inode is all there is.
		{"old file, same inode", advisor.Netns{Inode: here.Inode}, none, "", false},
		{"old file, inode still alive", advisor.Netns{Inode: 4026532175}, some, "elsewhere", false},
		{"old file, inode gone", advisor.Netns{Inode: 4026532175}, none, "gone", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.recorded
			st := &State{Managed: map[string]*ManagedKey{}, Namespace: &rec}
			err := st.CheckNamespace("/var/lib/tcp-advisor", here, tt.alive)
			var elsewhere *NamespaceError
			var gone *NamespaceGoneError
			switch tt.want {
			case "":
				if err != nil || *st.Namespace != here {
					t.Errorf("want the same namespace, now recorded as here: %v, %+v", err, st.Namespace)
				}
			case "elsewhere":
				if !errors.As(err, &elsewhere) {
					t.Errorf("want *NamespaceError, got %v", err)
				}
			case "gone":
				if !errors.As(err, &gone) || gone.OtherBoot != tt.otherBoot {
					t.Errorf("want *NamespaceGoneError (other boot %v), got %v", tt.otherBoot, err)
				}
			}
		})
	}
}
