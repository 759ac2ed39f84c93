package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every command of in and the error that ended the stream.
func readAll(rd io.Reader, lim Limits) ([][]string, error) {
	r := NewReader(rd, lim)
	var out [][]string
	for {
		args, err := r.ReadCommand()
		if err != nil {
			return out, err
		}
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = string(a)
		}
		out = append(out, cmd)
	}
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  Limits
		want [][]string
		err  string // "" = io.EOF
	}{
		{name: "multibulk", in: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", want: [][]string{{"GET", "k"}}},
		{name: "pipeline", in: "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", want: [][]string{{"PING"}, {"ECHO", ""}}},
		{name: "binary bulk", in: "*1\r\n$4\r\na\r\nb\r\n", want: [][]string{{"a\r\nb"}}},
		{name: "empty arrays skipped", in: "*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", want: [][]string{{"x"}}},
		{name: "inline", in: "SET k v\r\nGET k\n", want: [][]string{{"SET", "k", "v"}, {"GET", "k"}}},
		{name: "inline blanks", in: "  \r\n\r\n  PING   \r\n", want: [][]string{{"PING"}}},
		{name: "inline quotes", in: `SET "a b" 'c d'` + "\r\n", want: [][]string{{"SET", "a b", "c d"}}},
		{name: "inline escapes", in: `ECHO "x\n\x41\"" 'it\'s'` + "\r\n", want: [][]string{{"ECHO", "x\nA\"", "it's"}}},
		{name: "inline quote mid word", in: `ECHO a"b c"` + "\r\n", want: [][]string{{"ECHO", "ab c"}}},
		{name: "inline empty quoted", in: `ECHO ""` + "\r\n", want: [][]string{{"ECHO", ""}}},
		{name: "unbalanced quotes", in: "ECHO \"abc\r\n", err: "Protocol error: unbalanced quotes in request"},
		{name: "text after quote", in: "ECHO \"a\"b\r\n", err: "Protocol error: unbalanced quotes in request"},
		{name: "bad multibulk", in: "*x\r\n", err: "Protocol error: invalid multibulk length"},
		{name: "multibulk leading zero", in: "*01\r\n", err: "Protocol error: invalid multibulk length"},
		{name: "multibulk too long", in: "*3\r\n", lim: Limits{MaxMultibulk: 2}, err: "Protocol error: invalid multibulk length"},
		{name: "expected dollar", in: "*1\r\n:1\r\n", err: "Protocol error: expected '$', got ':'"},
		{name: "bad bulk", in: "*1\r\n$-2\r\n", err: "Protocol error: invalid bulk length"},
		{name: "bulk too long", in: "*1\r\n$11\r\n", lim: Limits{MaxBulk: 10}, err: "Protocol error: invalid bulk length"},
		{name: "inline too long", in: strings.Repeat("a", 100), lim: Limits{MaxInline: 10}, err: "Protocol error: too big inline request"},
		{name: "count line too long", in: "*" + strings.Repeat("1", countLineMax+10), err: "Protocol error: too big mbulk count string"},
		{name: "query buffer", in: "*1\r\n$100000\r\n" + strings.Repeat("a", 70000), lim: Limits{MaxQuery: 65536}, err: ErrQueryBufferLimit.Error()},
		{name: "truncated", in: "*2\r\n$3\r\nGET\r\n", err: io.ErrUnexpectedEOF.Error()},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			name := tt.name
			var rd io.Reader = strings.NewReader(tt.in)
			if oneByte {
				name += "/one byte reads"
				rd = iotest.OneByteReader(rd)
			}
			t.Run(name, func(t *testing.T) {
				got, err := readAll(rd, tt.lim)
				if tt.err == "" {
					if err != io.EOF {
						t.Fatalf("error = %v, want EOF", err)
					}
				} else if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if tt.err != "" && tt.err != io.ErrUnexpectedEOF.Error() && !errors.Is(err, ErrQueryBufferLimit) {
					var pe *ProtocolError
					if !errors.As(err, &pe) {
						t.Errorf("error %T is not a *ProtocolError", err)
					}
				}
				if len(got) != len(tt.want) {
					t.Fatalf("commands = %q, want %q", got, tt.want)
				}
				for i := range got {
					if strings.Join(got[i], "\x00") != strings.Join(tt.want[i], "\x00") {
						t.Errorf("command %d = %q, want %q", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

// A client that announces a huge bulk and then trickles bytes costs only what it sent.
func TestClaimedLengthIsNotAllocated(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr, Limits{})
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadCommand()
		done <- err
	}()
	pw.Write([]byte("*1\r\n$500000000\r\n"))
	pw.Write(bytes.Repeat([]byte("x"), 1000))
	pw.Close()
	if err := <-done; err != io.ErrUnexpectedEOF {
		t.Fatalf("error = %v, want unexpected EOF", err)
	}
	if cap(r.buf) > minBuffer {
		t.Fatalf("buffer grew to %d bytes for %d bytes sent", cap(r.buf), 1017)
	}
}

// A big argument grows the buffer as it arrives, and the memory is given back after.
func TestBigArgument(t *testing.T) {
	big := strings.Repeat("v", 1<<20)
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n" + big + "\r\n*1\r\n$4\r\nPING\r\n"
	r := NewReader(iotest.HalfReader(strings.NewReader(in)), Limits{})
	args, err := r.ReadCommand()
	if err != nil || len(args) != 3 || string(args[2]) != big {
		t.Fatalf("got %d args, err %v", len(args), err)
	}
	args, err = r.ReadCommand()
	if err != nil || string(args[0]) != "PING" {
		t.Fatalf("got %q, %v", args, err)
	}
	if _, err := r.ReadCommand(); err != io.EOF {
		t.Fatalf("error = %v at the end, want EOF", err)
	}
	if cap(r.buf) > 4*minBuffer {
		t.Errorf("buffer still holds %d bytes after the big command", cap(r.buf))
	}
}

func TestBuffered(t *testing.T) {
	r := NewReader(strings.NewReader("PING\r\nPING\r\n"), Limits{})
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() != 6 {
		t.Fatalf("Buffered = %d after the first of two commands, want 6", r.Buffered())
	}
	r.ReadCommand()
	if r.Buffered() != 0 {
		t.Fatalf("Buffered = %d at the end, want 0", r.Buffered())
	}
}

func BenchmarkReadCommand(b *testing.B) {
	cmd := "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"
	stream := []byte(strings.Repeat(cmd, 256))
	rd := bytes.NewReader(stream)
	r := NewReader(rd, Limits{})
	b.ReportAllocs()
	b.SetBytes(int64(len(cmd)))
	for b.Loop() {
		if _, err := r.ReadCommand(); err == io.EOF {
			rd.Reset(stream)
			r.readErr = nil
			r.ReadCommand()
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "PING\r\n", "SET \"a\\x41\" 'b'\r\n", "*-1\r\n*0\r\n",
		"*1\r\n$-1\r\n", "*1\r\n$99999999999999999999\r\n", "*3\r\n$1\r\na\r\n", "\"unterminated\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := Limits{MaxBulk: 1 << 16, MaxMultibulk: 1 << 10, MaxInline: 1 << 12, MaxQuery: 1 << 18}
		r := NewReader(iotest.HalfReader(bytes.NewReader(in)), lim)
		for range len(in) + 1 {
			args, err := r.ReadCommand()
			if err != nil {
				return
			}
			if len(args) == 0 {
				t.Fatal("a command with no arguments")
			}
			total := 0
			for _, a := range args {
				total += len(a)
			}
			if total > len(in) {
				t.Fatalf("arguments hold %d bytes from %d bytes of input", total, len(in))
			}
		}
		t.Fatal("more commands than input bytes")
	})
}

// FuzzReaderWhole checks parse's fast path for whole commands against its general
// path: input read at once (whole commands take the fast path) must give the same
// commands and the same error as input read one byte at a time (no command is ever
// whole, so every one takes the general path), with and without the limits before
// AUTH.
func FuzzReaderWhole(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n",
		"*01\r\n$4\r\nPING\r\n", "*1\r\n$04\r\nPING\r\n", "*1\n$4\nPING\r\n", "*1\r\n$4\r\nPINGxy",
		"*0\r\n*-1\r\n*1\r\n$-1\r\n", "*2\r\n$1\r\na\r\n+1\r\n", "*11\r\n", "*1\r\n$16385\r\n",
		"*1\r\n$1234567890\r\n", "*1\r\n$3\r\nabc\r\nPING\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, unauth bool) {
		lim := Limits{MaxBulk: 1 << 16, MaxMultibulk: 1 << 10, MaxInline: 1 << 12, MaxQuery: 1 << 18}
		read := func(rd io.Reader) (cmds []string, err error) {
			r := NewReader(rd, lim)
			r.SetUnauthenticated(unauth)
			for range len(in) + 1 {
				args, err := r.ReadCommand()
				if err != nil {
					return cmds, err
				}
				cmds = append(cmds, fmt.Sprintf("%q", args))
			}
			return cmds, errors.New("more commands than input bytes")
		}
		whole, werr := read(bytes.NewReader(in))
		bytewise, berr := read(iotest.OneByteReader(bytes.NewReader(in)))
		if fmt.Sprint(whole) != fmt.Sprint(bytewise) || fmt.Sprint(werr) != fmt.Sprint(berr) {
			t.Fatalf("read whole: %v, %v\nbyte by byte: %v, %v", whole, werr, bytewise, berr)
		}
	})
}

func TestUnauthenticatedLimits(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{"*11\r\n", "Protocol error: unauthenticated multibulk length"},
		{"*1\r\n$16385\r\n", "Protocol error: unauthenticated bulk length"},
		{"*10\r\n$16384\r\n", ""},
	} {
		r := NewReader(strings.NewReader(tt.in), Limits{})
		r.SetUnauthenticated(true)
		_, err := r.ReadCommand()
		if tt.err == "" && err != io.ErrUnexpectedEOF || tt.err != "" && (err == nil || err.Error() != tt.err) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestBeforeRead(t *testing.T) {
	r := NewReader(iotest.OneByteReader(strings.NewReader("PING\r\n")), Limits{})
	calls := 0
	r.SetBeforeRead(func() error { calls++; return nil })
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if calls != 6 {
		t.Fatalf("beforeRead called %d times for 6 one-byte reads, want 6", calls)
	}
	stop := errors.New("stop")
	r.SetBeforeRead(func() error { return stop })
	if _, err := r.ReadCommand(); err != stop {
		t.Fatalf("error = %v, want the beforeRead error", err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// timeoutOnce fails its first read with a timeout, then reads from r.
type timeoutOnce struct {
	r     io.Reader
	fired bool
}

func (t *timeoutOnce) Read(p []byte) (int, error) {
	if !t.fired {
		t.fired = true
		return 0, timeoutErr{}
	}
	return t.r.Read(p)
}

func TestFill(t *testing.T) {
	r := NewReader(&timeoutOnce{r: strings.NewReader("PING\r\n")}, Limits{})
	if err := r.Fill(); err == nil {
		t.Fatal("Fill through a timeout returned nil")
	}
	if err := r.Fill(); err != nil {
		t.Fatalf("Fill after a timeout: %v", err)
	}
	if r.Buffered() != 6 {
		t.Fatalf("Buffered = %d after Fill, want 6", r.Buffered())
	}
	args, err := r.ReadCommand()
	if err != nil || string(args[0]) != "PING" {
		t.Fatalf("ReadCommand after Fill = %q, %v", args, err)
	}
	if err := r.Fill(); err != io.EOF {
		t.Fatalf("Fill at the end = %v, want EOF", err)
	}
}
