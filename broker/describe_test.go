package broker

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminClientDescribes asks what franz-go's admin client asks of a cluster: the
// broker's configs (by id and cluster-wide), a topic's configs, the brokers and
// controller (Metadata and DescribeCluster), and the API versions, and checks the
// answers against the broker's configuration.
func TestAdminClientDescribes(t *testing.T) {
	b := startBroker(t, Config{MessageMaxBytes: 2 << 20, DefaultPartitions: 3})
	createTopic(t, b.addr, "described", 2, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	cl := newClient(t, b.addr)
	adm := kadm.NewClient(cl)
	ctx := context.Background()

	for _, ids := range [][]int32{{0}, nil} {
		rcs, err := adm.DescribeBrokerConfigs(ctx, ids...)
		if err != nil {
			t.Fatalf("DescribeBrokerConfigs(%v): %v", ids, err)
		}
		if len(rcs) != 1 || rcs[0].Err != nil {
			t.Fatalf("DescribeBrokerConfigs(%v) = %+v", ids, rcs)
		}
		got := map[string]string{}
		for _, c := range rcs[0].Configs {
			got[c.Key] = c.MaybeValue()
		}
		want := map[string]string{"message.max.bytes": strconv.Itoa(2 << 20), "num.partitions": "3", "broker.id": "0", "auto.create.topics.enable": "false"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("DescribeBrokerConfigs(%v): %s = %q, want %q", ids, k, got[k], v)
			}
		}
	}
	if rcs, err := adm.DescribeBrokerConfigs(ctx, 7); err == nil && (len(rcs) != 1 || rcs[0].Err == nil) {
		t.Errorf("DescribeBrokerConfigs(7), a broker that does not exist: %+v, no error", rcs)
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "described")
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("DescribeTopicConfigs = %+v, %v", rcs, err)
	}
	var policy string
	for _, c := range rcs[0].Configs {
		if c.Key == "cleanup.policy" {
			policy = c.MaybeValue()
		}
	}
	if policy != "compact" {
		t.Errorf("cleanup.policy = %q, want compact", policy)
	}

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(b.addr)
	if len(md.Brokers) != 1 || md.Brokers[0].Host != host || strconv.Itoa(int(md.Brokers[0].Port)) != port || md.Controller != 0 {
		t.Errorf("metadata brokers %+v controller %d, want one broker at %s", md.Brokers, md.Controller, b.addr)
	}

	// kadm has no DescribeCluster of its own; the request goes through the same client.
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if dc.ErrorCode != 0 || dc.ClusterID == "" || dc.ClusterID != md.Cluster || dc.ControllerID != 0 ||
		len(dc.Brokers) != 1 || dc.Brokers[0].Host != host || strconv.Itoa(int(dc.Brokers[0].Port)) != port {
		t.Errorf("DescribeCluster = %+v, want cluster %q with one broker at %s", dc, md.Cluster, b.addr)
	}

	vers, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vers.Each(func(v kadm.BrokerApiVersions) {
		if v.Err != nil {
			t.Errorf("ApiVersions: %v", v.Err)
		}
		for _, k := range []kmsg.Key{kmsg.DescribeConfigs, kmsg.DescribeCluster, kmsg.Produce, kmsg.Fetch} {
			if _, _, ok := v.KeyVersions(int16(k)); !ok {
				t.Errorf("ApiVersions lacks %s", k.Name())
			}
		}
	})
}
