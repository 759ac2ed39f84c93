package roadmap_test

import (
	"fmt"

	"gantry/roadmap"
)

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
