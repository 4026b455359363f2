package cmdutil

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// Terminal returns the width of out when it is a terminal (0 otherwise),
// and whether colour is wanted there (https://no-color.org).
func Terminal(out io.Writer) (int, bool) {
	f, ok := out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		w = 80
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	return w, !noColor && os.Getenv("TERM") != "dumb"
}

// TableWidth is the width a table written to out is fitted to: the
// terminal's, or $COLUMNS when out is not a terminal (0, unlimited, when
// neither says), and whether colour is wanted.
func TableWidth(out io.Writer) (int, bool) {
	if w, color := Terminal(out); w > 0 {
		return w, color
	}
	w, _ := strconv.Atoi(os.Getenv("COLUMNS"))
	return max(w, 0), false
}
