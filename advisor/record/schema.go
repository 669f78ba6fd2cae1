package record

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of the recording format,
// recording.schema.json.
//
//go:embed recording.schema.json
var Schema []byte
