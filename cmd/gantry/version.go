package main

import (
	"context"
	"fmt"

	"gantry/internal/buildinfo"
)

func runVersion(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "version", "version", "Version prints gantry's module version, the commit it was built from and the Go version.")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	fmt.Fprintln(s.out, buildinfo.String())
	return nil
}
