package reports

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of the json format.
//
//go:embed schema/report.v1.json
var SchemaJSON []byte

// WriteJSON renders the report as one indented JSON document following
// SchemaJSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}
