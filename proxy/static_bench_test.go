package proxy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkStaticFile measures one keep-alive GET of a 4 KiB file from a static route:
// parse, route, open and stat the file, write the head, and send the body with sendfile.
func BenchmarkStaticFile(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), bytes.Repeat([]byte{1}, 4096), 0o644); err != nil {
		b.Fatal(err)
	}
	benchGets(b, serveBench(b, Config{Routes: []Route{{Static: &StaticConfig{Dir: dir}}}}), "/f.bin", 4096)
}
