package broker_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gantry/broker"
)

// A broker on a loopback port, a topic, one record produced with acks=all and read back
// with franz-go.
func Example() {
	dir, _ := os.MkdirTemp("", "broker-example")
	defer os.RemoveAll(dir)
	srv, err := broker.New(broker.Config{Dir: dir})
	if err != nil {
		panic(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(context.Background(), ln)
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()),
		kgo.ConsumeTopics("greetings"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "greetings"); err != nil {
		panic(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "greetings", Value: []byte("hello, log")}).FirstErr(); err != nil {
		panic(err)
	}
	r := cl.PollFetches(ctx).Records()[0]
	fmt.Printf("%s at offset %d\n", r.Value, r.Offset)
	// Output: hello, log at offset 0
}
