package inputerr

import (
	"strings"
	"testing"
)

func TestQuoteCapsLongInput(t *testing.T) {
	if got := Quote("soon"); got != `"soon"` {
		t.Errorf("short: %s", got)
	}
	long := strings.Repeat("é", 200) // 400 bytes; the cut must not split a character
	got := Quote(long)
	if !strings.HasSuffix(got, "… (400 bytes)") || len(got) > QuoteMax+30 || strings.Contains(got, `\x`) {
		t.Errorf("long: %s", got)
	}
}
