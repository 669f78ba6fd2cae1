package packaging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tcp-advisor/tcp-advisor/advisor/record"
)

// compileSchema compiles the recording schema tcp-advisor ships
// (advisor/record/recording.schema.json, embedded as record.Schema).
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(record.Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("recording.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("recording.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// validate checks a recording file's JSON, compressed or not, against the
// schema.
func validate(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	plain, err := record.Decompress(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(doc)
}

// encode is the file record.Write makes of r.
func encode(t *testing.T, r *record.Recording) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := record.Write(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRecordingSchema: the recordings tcp-advisor writes, redacted or not,
// and the default policies' committed recordings validate against the
// schema it ships, and the schema refuses what the format forbids. The
// sample recording is advisor/record's test series (kept in step by its
// TestSampleRecording).
func TestRecordingSchema(t *testing.T) {
	sch := compileSchema(t)
	sample, err := record.ReadFile("../advisor/record/testdata/recording.json")
	if err != nil {
		t.Fatal(err)
	}
	written := encode(t, sample)
	red, err := record.Read(bytes.NewReader(written))
	if err != nil {
		t.Fatal(err)
	}
	red.Redact()
	for name, data := range map[string][]byte{"recording": written, "redacted": encode(t, red)} {
		if err := validate(t, sch, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The committed recordings of the default policies' tests.
	files, _ := filepath.Glob("../policies/testdata/recordings/*.json.gz")
	if len(files) == 0 {
		t.Fatal("found no committed recordings under ../policies/testdata/recordings")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	t.Logf("%d committed recordings valid", len(files))
	// The schema is not a check that cannot fail.
	plain, err := json.Marshal(sample)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(plain), `"version":1`, `"version":"1"`, 1)
	if err := validate(t, sch, []byte(bad)); err == nil {
		t.Error("a string version passes the schema")
	}
	bad = strings.Replace(string(plain), `"dumped":[`, `"dumped":["NOT_A_STATE",`, 1)
	if err := validate(t, sch, []byte(bad)); err == nil {
		t.Error("an unknown state passes the schema")
	}
}
