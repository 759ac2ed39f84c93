package resp_test

import (
	"fmt"
	"strings"

	"gantry/resp"
)

func Example() {
	r := resp.NewReader(strings.NewReader("*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n"), resp.Limits{})
	var out strings.Builder
	w := resp.NewWriter(&out)
	for {
		args, err := r.ReadCommand()
		if err != nil {
			break
		}
		switch strings.ToUpper(string(args[0])) {
		case "ECHO":
			w.Bulk(args[1])
		case "PING":
			w.Status("PONG")
		}
		if r.Buffered() == 0 {
			w.Flush() // the replies of a pipeline go out in one write
		}
	}
	fmt.Printf("%q\n", out.String())
	// Output:
	// "$2\r\nhi\r\n+PONG\r\n"
}
