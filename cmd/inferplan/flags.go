package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// enumValue is a string flag that takes one of a fixed set of values (gh's cmdutil.StringEnumFlag): the value is
// checked when the command line is parsed — before any work starts, so a typo never costs a measurement or a
// search — and the shell completes it from the same list. Values match case-insensitively and are stored as
// listed.
type enumValue struct {
	p      *string
	values []string
}

func (e *enumValue) Set(s string) error {
	for _, v := range e.values {
		if strings.EqualFold(strings.TrimSpace(s), v) {
			*e.p = v
			return nil
		}
	}
	return fmt.Errorf("want %s", orList(e.values))
}

func (e *enumValue) String() string { return *e.p }
func (e *enumValue) Type() string   { return "string" }

// enumFlag adds a flag that takes one of values, with its default, checking and completion in one place.
func enumFlag(cmd *cobra.Command, p *string, name, short, def string, values []string, usage string) {
	*p = def
	cmd.Flags().VarP(&enumValue{p: p, values: values}, name, short, fmt.Sprintf("%s: %s", usage, orList(values)))
	_ = cmd.RegisterFlagCompletionFunc(name, completeFixed(values...))
}

// enumListValue is a comma-separated list of values from a fixed set (--sharing time-slice,mps).
type enumListValue struct {
	p      *string
	values []string
}

func (e *enumListValue) Set(s string) error {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		v := &enumValue{p: new(string), values: e.values}
		if err := v.Set(f); err != nil {
			return fmt.Errorf("%q: %w (a comma-separated list)", f, err)
		}
		out = append(out, *v.p)
	}
	*e.p = strings.Join(out, ",")
	return nil
}

func (e *enumListValue) String() string { return *e.p }
func (e *enumListValue) Type() string   { return "strings" }

// enumListFlag adds a flag that takes a comma-separated list of values, checked and completed in one place.
func enumListFlag(cmd *cobra.Command, p *string, name, def string, values []string, usage string) {
	*p = def
	cmd.Flags().Var(&enumListValue{p: p, values: values}, name, fmt.Sprintf("%s: %s, comma-separated", usage, orList(values)))
	_ = cmd.RegisterFlagCompletionFunc(name, completeFixed(values...))
}

// orList spells values as "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
