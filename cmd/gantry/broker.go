package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/prometheus/client_golang/prometheus"

	"gantry/broker"
	plog "gantry/broker/log"
	"gantry/internal/admin"
)

const brokerDoc = `Broker runs a single-node log broker that speaks Kafka's protocol: point franz-go,
kcat or any Kafka client at --addr. Topics and committed offsets live under --dir.

Produce with acks=all is answered only after the records are fsynced (many
producers share one fsync); acks=1 is answered once the records are written,
and they reach the disk within --flush-interval.`

func runBroker(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "broker", "broker [--addr ADDR] [--dir DIR] [--admin ADDR] [--config FILE] [flags]", brokerDoc)
	addr := fs.String("addr", "127.0.0.1:9092", "address of the Kafka listener")
	dir := fs.String("dir", "data/broker", "directory for topics and group offsets")
	adminAddr := fs.String("admin", "127.0.0.1:9093", `admin listener address (metrics, health, pprof); "" for none`)
	advertised := fs.String("advertised-addr", "", "host:port told to clients in metadata (default: the listener's address)")
	autoCreate := fs.Bool("auto-create-topics", false, "create unknown topics when clients ask for them")
	partitions := fs.Int("partitions", 1, "partitions of auto-created topics")
	flushInterval := fs.Duration("flush-interval", time.Second, "sync unsynced partitions at least this often")
	flushMessages := fs.Int64("flush-messages", 0, "sync a partition once it holds this many unsynced records (0: off)")
	segmentBytes := fs.Int64("segment-bytes", 128<<20, "roll a segment at this size")
	retention := fs.Duration("retention", 7*24*time.Hour, "delete segments older than this (0: keep forever)")
	retentionBytes := fs.Int64("retention-bytes", 0, "keep each partition under about this many bytes (0: no limit)")
	maxRequest := fs.Int("max-request-bytes", 100<<20, "largest request frame accepted")
	maxMessage := fs.Int("message-max-bytes", 1<<20+12, "largest records of one partition in a produce")
	drain := fs.Duration("drain", 10*time.Second, "how long shutdown waits for requests in flight")
	config := fs.String("config", "", "YAML file of settings named as the flags (flush-interval: 500ms, or flush_interval); flags given override it")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *config != "" {
		if err := applyConfigFile(fs, *config); err != nil {
			return fs.fail(err)
		}
	}
	logger := fs.logger(s.err)
	ret := *retention
	if ret == 0 {
		ret = -1
	}
	reg := prometheus.NewRegistry()
	srv, err := broker.New(broker.Config{
		Dir: *dir, AdvertisedAddr: *advertised,
		MaxRequestBytes: int32(*maxRequest), MessageMaxBytes: int32(*maxMessage),
		AutoCreateTopics: *autoCreate, DefaultPartitions: int32(*partitions),
		FlushInterval: *flushInterval, FlushMessages: *flushMessages,
		Log:      plog.Config{SegmentBytes: *segmentBytes, RetentionAge: ret, RetentionBytes: *retentionBytes},
		Registry: reg, Logger: logger,
	})
	if err != nil {
		return fs.fail(err)
	}
	return serve(ctx, srv, serveOptions{
		name: "broker", addr: *addr, adminAddr: *adminAddr,
		admin: admin.Config{Registry: reg}, drain: *drain, log: logger,
	})
}

// applyConfigFile sets, from a YAML mapping of flag names to values, every flag the
// command line did not set: the file gives defaults, flags override it. Keys may use
// dashes or underscores; an unknown key, a nested value or a bad value is an error
// naming the file and the key.
func applyConfigFile(fs *flagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]string
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, key := range slices.Sorted(maps.Keys(m)) {
		name := strings.ReplaceAll(key, "_", "-")
		if fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("%s: unknown setting %q (the settings are the command's flags)", path, key)
		}
		if given[name] {
			continue
		}
		if err := fs.Set(name, m[key]); err != nil {
			return fmt.Errorf("%s: %s: %v", path, key, err)
		}
	}
	return nil
}
