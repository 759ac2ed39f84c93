package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

const produceDoc = `Produce sends each line of stdin as one record to TOPIC, and waits for every record
to be acknowledged. With --key-sep, the part of a line before the first separator is
the record's key (records with the same key go to the same partition).`

func runProduce(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "produce", "produce TOPIC [--key-sep SEP] [--acks all|leader|none] [--brokers ADDRS]", produceDoc)
	brokers := brokersFlag(fs)
	keySep := fs.String("key-sep", "", `split each line into KEY SEP VALUE (for example ":")`)
	acks := fs.String("acks", "all", "acknowledgement: all (durable on the broker), leader, or none")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.fail(errors.New("want exactly one topic"))
	}
	topic := pos[0]
	// Ask for auto-creation: the broker decides whether it allows it.
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}
	switch *acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return fs.fail(fmt.Errorf("--acks must be all, leader or none, not %q", *acks))
	}
	cl, err := kafkaClient(*brokers, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	sc := bufio.NewScanner(s.in)
	sc.Buffer(nil, 16<<20)
	var (
		n       int
		firstMu = make(chan struct{}, 1)
		first   error
	)
	firstMu <- struct{}{}
	for sc.Scan() {
		line := sc.Text()
		r := &kgo.Record{Value: []byte(line)}
		if *keySep != "" {
			if k, v, ok := strings.Cut(line, *keySep); ok {
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		n++
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				<-firstMu
				if first == nil {
					first = err
				}
				firstMu <- struct{}{}
			}
		})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	<-firstMu
	if first != nil {
		return fmt.Errorf("produce to %s: %w", topic, first)
	}
	fmt.Fprintf(s.err, "produced %d records to %s\n", n, topic)
	return nil
}
