package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicAdminDoesNotBlockOtherTopics holds a topic creation, and then a
// CreatePartitions, in the middle of opening its partitions' files (where the fsyncs
// of the segment directory and topic.json happen too) and checks that a produce to
// another topic is answered meanwhile.
func TestTopicAdminDoesNotBlockOtherTopics(t *testing.T) {
	b := startBroker(t, Config{})
	createTopic(t, b.addr, "other", 1, nil)
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("other"))
	// The client does not give up on a request in flight, so the deadline is kept
	// here: the produce goes on in the background until the test's cleanup lets the
	// admin request finish.
	produce := func(what string) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(what)}).FirstErr() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("produce to another topic %s: %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("produce to another topic %s not answered while a topic admin request was held", what)
		}
	}
	produce("before")

	// The partition-opened hook stands in for a slow disk: it runs where the
	// partition's files have just been created, and waits until the test closes the
	// channel it hands over.
	entered := make(chan chan struct{})
	var held chan struct{}
	open := func() {
		if held != nil {
			close(held)
			held = nil
		}
	}
	t.Cleanup(open)
	ts := b.topics
	ts.adminMu.Lock()
	hook := ts.onUp
	ts.onUp = func(p *partition) {
		hook(p)
		if p.topic == "slow" {
			release := make(chan struct{})
			entered <- release
			<-release
		}
	}
	ts.adminMu.Unlock()

	adm := kadm.NewClient(newClient(t, b.addr))
	admin := func(f func(ctx context.Context) error) <-chan error {
		ch := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ch <- f(ctx)
		}()
		return ch
	}
	wait := func() {
		t.Helper()
		select {
		case held = <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the admin request did not reach the partition hook")
		}
	}

	created := admin(func(ctx context.Context) error {
		r, err := adm.CreateTopic(ctx, 1, 1, nil, "slow")
		if err == nil {
			err = r.Err
		}
		return err
	})
	wait()
	produce("during create")
	open()
	if err := <-created; err != nil {
		t.Fatalf("create: %v", err)
	}

	grown := admin(func(ctx context.Context) error {
		r, err := adm.CreatePartitions(ctx, 1, "slow")
		if err == nil {
			err = r.Error()
		}
		return err
	})
	wait()
	produce("during grow")
	open()
	if err := <-grown; err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	if n := len(b.topics.get("slow").parts); n != 2 {
		t.Fatalf("%d partitions after growing, want 2", n)
	}
}
