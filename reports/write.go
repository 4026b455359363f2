package reports

import (
	"fmt"
	"io"
)

// Formats lists the output formats, the first being the default.
var Formats = []string{"table", "markdown", "json", "html"}

// Write renders r in one of Formats.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "table":
		return WriteTable(w, r)
	case "markdown":
		return WriteMarkdown(w, r)
	case "json":
		return WriteJSON(w, r)
	case "html":
		return WriteHTML(w, r)
	default:
		return fmt.Errorf("unknown report format %q (want one of table, markdown, json, html)", format)
	}
}
