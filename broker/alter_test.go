package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func describedConfig(t *testing.T, addr, topic, key string) (string, bool) {
	t.Helper()
	rcs, err := kadm.NewClient(newClient(t, addr)).DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), c.Source == kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	return "", false
}

// TestAlterTopicConfigs changes a live topic's configs: the change is described,
// survives a restart, and takes effect on the running log.
func TestAlterTopicConfigs(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{Dir: dir})
	createTopic(t, b.addr, "live", 1, nil)
	adm := kadm.NewClient(newClient(t, b.addr))
	ctx := context.Background()

	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		resp, err := adm.AlterTopicConfigs(ctx, ops, "live")
		if err != nil {
			return err
		}
		return resp[0].Err
	}
	seg, ret := "1024", "3600000"
	if err := alter(kadm.AlterConfig{Name: "segment.bytes", Value: &seg}, kadm.AlterConfig{Name: "retention.ms", Value: &ret}); err != nil {
		t.Fatal(err)
	}
	if v, set := describedConfig(t, b.addr, "live", "retention.ms"); v != ret || !set {
		t.Fatalf("retention.ms described as %q (set %v)", v, set)
	}
	bad := "-5"
	if err := alter(kadm.AlterConfig{Name: "segment.bytes", Value: &bad}); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v", err)
	}
	if err := alter(kadm.AlterConfig{Name: "no.such", Value: &bad}); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v", err)
	}

	// The running log rolls at the new segment size, and retention drops old segments.
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	old := time.Now().Add(-2 * time.Hour)
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "live", Value: make([]byte, 600), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := b.topics.partition("live", 0)
	if n := p.log.Segments(); n < 5 {
		t.Fatalf("%d segments at segment.bytes=1024", n)
	}
	b.RunRetention(time.Now())
	if n := p.log.Segments(); n != 1 {
		t.Fatalf("%d segments after retention of 1 hour", n)
	}

	// Delete goes back to the default; the state survives a restart.
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "segment.bytes"}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b.Shutdown(sctx)
	b = startBroker(t, Config{Dir: dir})
	if v, set := describedConfig(t, b.addr, "live", "retention.ms"); v != ret || !set {
		t.Fatalf("after restart retention.ms is %q (set %v)", v, set)
	}
	if _, set := describedConfig(t, b.addr, "live", "segment.bytes"); set {
		t.Fatal("segment.bytes still set after delete and restart")
	}
}
