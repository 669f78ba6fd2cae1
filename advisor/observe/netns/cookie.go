package netns

import "github.com/tcp-advisor/tcp-advisor/advisor/observe"

// Cookie returns the namespace's cookie (observe.NetnsCookie), read on a
// thread inside it.
func (n Namespace) Cookie() (cookie uint64, err error) {
	err = n.Do(func() error {
		cookie, err = observe.NetnsCookie()
		return err
	})
	return cookie, err
}
