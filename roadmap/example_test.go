package roadmap_test

import (
	"fmt"

	"gantry/roadmap"
)

func Example() {
	for _, sec := range roadmap.Sections() {
		n := len(roadmap.Select(roadmap.Query{Section: sec}))
		fmt.Printf("%-13s %2d topics  %s\n", sec, n, sec.Heading())
	}
	// Output:
	// necessary      6 topics  Necessary for a backend engineer
	// beginner      19 topics  Backend engineering: beginner
	// intermediate  26 topics  Backend engineering: intermediate
	// advanced       8 topics  Backend engineering: advanced
	// system-design 23 topics  System design
}

func ExampleLookup() {
	t, ok := roadmap.Lookup("consistent-hashing")
	if !ok {
		fmt.Println("no such topic")
		return
	}
	fmt.Printf("%s (%s) lives in %s/, measured by the %s experiment\n", t.Title, t.Section, t.Home, t.Experiment)
	// Output:
	// Consistent Hashing (system-design) lives in balance/, measured by the consistent-hashing experiment
}

func ExampleSelect() {
	for _, t := range roadmap.Select(roadmap.Query{Section: roadmap.Advanced}) {
		fmt.Println(t.ID)
	}
	// Output:
	// database-replication
	// database-cursors
	// distributed-transactions
	// key-vs-nonkey-columns
	// webrtc
	// iptables
	// amplification
	// microsoft-iis
}

func ExampleParseStatus() {
	_, err := roadmap.ParseStatus("finished")
	fmt.Println(err)
	// Output:
	// unknown status "finished": want one of done, partial, planned, not-applicable
}
