package systemd

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/tcp-advisor/tcp-advisor/advisor/textsafe"
)

// Identifier is the SYSLOG_IDENTIFIER of every journal entry the agent writes.
const Identifier = "tcp-advisor"

// Event is one structured log entry.
type Event struct {
	Kind     EventKind         // required; fixes MESSAGE_ID
	Message  string            // required; one human-readable line with the numbers
	Priority Priority          // PriorityDefault: the kind's DefaultPriority
	Fields   map[string]string // extra journal fields, names as checked by Validate
}

// Validate reports what is wrong with e, if anything: an undefined kind, an
// empty message, or a field name journald would drop or the Logger sets
// itself.
func (e Event) Validate() error {
	if !e.Kind.Valid() {
		return fmt.Errorf("event: undefined kind %v", e.Kind)
	}
	if strings.TrimSpace(e.Message) == "" {
		return fmt.Errorf("event %v: empty message", e.Kind)
	}
	if e.Priority != PriorityDefault {
		if _, ok := priorities[e.Priority]; !ok {
			return fmt.Errorf("event %v: undefined priority %v", e.Kind, e.Priority)
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(e.Fields)) {
		if err := checkFieldName(name); err != nil {
			errs = append(errs, fmt.Errorf("event %v: %w", e.Kind, err))
		}
	}
	return errors.Join(errs...)
}

func (e Event) priority() Priority {
	if e.Priority == PriorityDefault {
		return e.Kind.DefaultPriority()
	}
	return e.Priority
}

// sendFunc has journal.Send's signature.
type sendFunc func(message string, priority journal.Priority, vars map[string]string) error

// Logger writes Events to journald when its socket is there, and otherwise as
// one text line each to stderr. It is safe for concurrent use.
type Logger struct {
	send   sendFunc // nil: stderr only
	mu     sync.Mutex
	stderr io.Writer
	now    func() time.Time
}

// NewLogger returns a Logger that sends to journald if its socket is there, and
// writes "time priority kind: message KEY=value ..." lines to stderr
// otherwise (and whenever a send to journald fails, so nothing is lost
// silently).
func NewLogger(stderr io.Writer) *Logger {
	var send sendFunc
	if j := dialJournal(journalSocket); j != nil {
		send = j.send
	}
	return newLogger(send, stderr)
}

func newLogger(send sendFunc, stderr io.Writer) *Logger {
	if stderr == nil {
		stderr = io.Discard
	}
	return &Logger{send: send, stderr: stderr, now: time.Now}
}

// Journal reports whether the Logger writes to journald.
func (l *Logger) Journal() bool { return l.send != nil }

// Log writes one event. An invalid event (see Event.Validate) is not written
// at all and its error returned, so that a bad field name is caught in tests
// rather than silently dropped by journald.
func (l *Logger) Log(e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if l.send != nil {
		vars := make(map[string]string, len(e.Fields)+2)
		maps.Copy(vars, e.Fields)
		vars["MESSAGE_ID"] = e.Kind.MessageID()
		vars["SYSLOG_IDENTIFIER"] = Identifier
		// OBJECT_PID from a root sender makes journald attach that
		// process's OBJECT_SYSTEMD_UNIT, so `journalctl -u nginx` shows
		// the agent's CLOSE_WAIT report about nginx too.
		if pid, ok := e.Fields[FieldPID]; ok {
			vars["OBJECT_PID"] = pid
		}
		// MESSAGE is for people: escaped, one line. The fields keep the
		// raw values (journald stores them binary-safe).
		err := l.send(textsafe.Escape(e.Message), e.priority().Journal(), vars)
		if err == nil {
			return nil
		}
		l.writeLine(e)
		return fmt.Errorf("journal: %w", err)
	}
	return l.writeLine(e)
}

// writeLine writes the stderr form: fields sorted by name, values quoted
// (Go syntax) when they are empty or hold spaces, quotes, '=' or control
// characters, so a line splits back into its fields.
func (l *Logger) writeLine(e Event) error {
	var b strings.Builder
	b.WriteString(l.now().Format(time.RFC3339))
	b.WriteByte(' ')
	b.WriteString(e.priority().String())
	b.WriteByte(' ')
	b.WriteString(e.Kind.String())
	b.WriteString(": ")
	b.WriteString(textsafe.Escape(e.Message))
	for _, name := range slices.Sorted(maps.Keys(e.Fields)) {
		b.WriteByte(' ')
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(quoteValue(e.Fields[name]))
	}
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := io.WriteString(l.stderr, b.String())
	return err
}

func quoteValue(v string) string {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '=' || r == '\\' || r == 0x7f || !strconv.IsPrint(r)
	}) {
		return strconv.Quote(v)
	}
	return v
}
