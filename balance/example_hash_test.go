package balance_test

import (
	"fmt"

	"gantry/balance"
)

func ExampleRing() {
	// A cache cluster of three nodes, one of them twice as big as the others.
	r := balance.NewRing([]balance.Node{
		{Name: "cache-a:6379"},
		{Name: "cache-b:6379"},
		{Name: "cache-c:6379", Weight: 2},
	}, 0)
	fmt.Println(r.Get("user:42"))
	// The same key goes to the same node in every process that builds the same ring.
	fmt.Println(r.Get("user:42") == balance.NewRing([]balance.Node{
		{Name: "cache-c:6379", Weight: 2},
		{Name: "cache-a:6379"},
		{Name: "cache-b:6379"},
	}, 0).Get("user:42"))
	// Output:
	// cache-b:6379
	// true
}

func ExampleNewMaglev() {
	m, err := balance.NewMaglev([]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Size(), m.Get("203.0.113.7:51234"))

	// The table size must be prime, for every node's permutation to visit every slot.
	_, err = balance.NewMaglev([]string{"a", "b"}, 1000)
	fmt.Println(err)
	// Output:
	// 65537 10.0.0.3:80
	// balance: maglev table size 1000 is not prime
}

func ExampleJump() {
	// Shards numbered by their place in the list: grow by appending.
	shards := []string{"shard-0", "shard-1", "shard-2"}
	before := balance.NewJump(shards)
	after := balance.NewJump(append(shards, "shard-3"))
	for _, k := range []string{"order:1", "order:2", "order:3", "order:4"} {
		// A key either stays or moves to the new shard, never between old ones.
		fmt.Println(k, before.Get(k), "->", after.Get(k))
	}
	// Output:
	// order:1 shard-1 -> shard-3
	// order:2 shard-0 -> shard-0
	// order:3 shard-1 -> shard-1
	// order:4 shard-2 -> shard-2
}

func ExampleRendezvous() {
	r := balance.NewRendezvous([]balance.Node{{Name: "a"}, {Name: "b", Weight: 3}})
	count := map[string]int{}
	for i := 0; i < 10000; i++ {
		count[r.Get(fmt.Sprint("key-", i))]++
	}
	// b, with three times a's weight, gets about three quarters of the keys.
	fmt.Printf("b: %.2f\n", float64(count["b"])/10000)
	// Output:
	// b: 0.75
}
