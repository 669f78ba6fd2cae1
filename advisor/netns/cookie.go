package netns

// Cookie returns the namespace's cookie (ThreadCookie), read on a thread
// inside it.
func (n Namespace) Cookie() (cookie uint64, err error) {
	err = n.Do(func() error {
		cookie, err = ThreadCookie()
		return err
	})
	return cookie, err
}
