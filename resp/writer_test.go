package resp

import (
	"bytes"
	"math"
	"testing"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *Writer)
		resp2 string
		resp3 string
	}{
		{"ok", func(w *Writer) { w.OK() }, "+OK\r\n", "+OK\r\n"},
		{"status", func(w *Writer) { w.Status("PONG") }, "+PONG\r\n", "+PONG\r\n"},
		{"error", func(w *Writer) { w.Error("ERR bad\r\nthing") }, "-ERR bad  thing\r\n", "-ERR bad  thing\r\n"},
		{"int", func(w *Writer) { w.Int(-42); w.Int(7) }, ":-42\r\n:7\r\n", ":-42\r\n:7\r\n"},
		{"bulk", func(w *Writer) { w.Bulk([]byte("hi")); w.BulkString("") }, "$2\r\nhi\r\n$0\r\n\r\n", "$2\r\nhi\r\n$0\r\n\r\n"},
		{"bulk int", func(w *Writer) { w.BulkInt(-5) }, "$2\r\n-5\r\n", "$2\r\n-5\r\n"},
		{"null", func(w *Writer) { w.Null() }, "$-1\r\n", "_\r\n"},
		{"null array", func(w *Writer) { w.NullArray() }, "*-1\r\n", "_\r\n"},
		{"map", func(w *Writer) { w.Map(1); w.BulkString("a"); w.Int(1) }, "*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n$1\r\na\r\n:1\r\n"},
		{"set", func(w *Writer) { w.Set(0) }, "*0\r\n", "~0\r\n"},
		{"push", func(w *Writer) { w.Push(3) }, "*3\r\n", ">3\r\n"},
		{"bool", func(w *Writer) { w.Bool(true); w.Bool(false) }, ":1\r\n:0\r\n", "#t\r\n#f\r\n"},
		{"double", func(w *Writer) { w.Double(1.1) }, "$18\r\n1.1000000000000001\r\n", ",1.1000000000000001\r\n"},
		{"double inf", func(w *Writer) { w.Double(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"double exp", func(w *Writer) { w.Double(1e20) }, "$5\r\n1e+20\r\n", ",1e+20\r\n"},
		{"verbatim", func(w *Writer) { w.Verbatim("a") }, "$1\r\na\r\n", "=5\r\ntxt:a\r\n"},
	}
	for _, tt := range tests {
		for proto, want := range map[int]string{2: tt.resp2, 3: tt.resp3} {
			var out bytes.Buffer
			w := NewWriter(&out)
			w.Proto = proto
			tt.write(w)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Errorf("%s RESP%d = %q, want %q", tt.name, proto, out.String(), want)
			}
		}
	}
}

func TestTruncate(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.OK()
	m := w.Mark()
	w.Int(5)
	w.Truncate(m)
	w.Flush()
	if out.String() != "+OK\r\n" {
		t.Fatalf("got %q", out.String())
	}
}

func BenchmarkWriterBulk(b *testing.B) {
	var out bytes.Buffer
	w := NewWriter(&out)
	v := []byte("xxx")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Bulk(v)
		if i%256 == 0 {
			out.Reset()
			w.Flush()
		}
	}
}
