package lab_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gantry/lab"
)

func ExampleExperiments() {
	for _, e := range lab.Experiments() {
		fmt.Println(e.Name, e.Topics)
	}
	// Output:
	// tail-latency [tail-latency]
	// consistent-hashing [consistent-hashing load-balancer]
	// btree-vs-bplustree [btree-vs-bplustree]
	// isolation [acid concurrency-control]
}

func ExampleRun() {
	dir, err := os.MkdirTemp("", "lab")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	e, err := lab.Lookup("consistent-hashing")
	if err != nil {
		fmt.Println(err)
		return
	}
	path, err := lab.Run(context.Background(), e, lab.Params{Quick: true, Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(dir, path)
	fmt.Println(rel)

	_, err = lab.Lookup("no-such-thing")
	fmt.Println(err)
	// Output:
	// consistent-hashing/report.md
	// unknown experiment "no-such-thing": the experiments are tail-latency, consistent-hashing, btree-vs-bplustree, isolation
}
