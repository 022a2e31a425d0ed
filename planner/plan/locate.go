package plan

import (
	"errors"
	"os"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Locate names the plan file, and the line of the field, in an input error found after the plan was read — a
// buffer whose memory size the profile never measured, say — so it reads as Parse's own errors do
// (file:line: field: reason). Other errors pass unchanged.
func Locate(err error, path string) error {
	var ie *inputerr.Error
	if !errors.As(err, &ie) || ie.File != "" {
		return err
	}
	ie.File = path
	if data, rerr := os.ReadFile(path); rerr == nil && ie.Field != "" {
		ie.Line = lineOfField(data, ie.Field)
	}
	return err
}
