package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeDoc = `Consume prints the records of TOPIC, one per line, until interrupted or until --count
records are printed. With --group, it consumes as a member of that consumer group and
commits its offsets; without, it reads every partition on its own.`

func runConsume(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "consume", "consume TOPIC [--group G] [--from beginning|end] [--count N] [--keys] [--brokers ADDRS]", consumeDoc)
	brokers := brokersFlag(fs)
	group := fs.String("group", "", "consume as a member of this consumer group")
	from := fs.String("from", "end", "where to start when there is no committed offset: beginning or end")
	count := fs.Int("count", 0, "exit after this many records (0: run until interrupted)")
	keys := fs.Bool("keys", false, "print KEY<tab>VALUE")
	verbose := fs.Bool("offsets", false, "print PARTITION:OFFSET before each record")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.fail(errors.New("want exactly one topic"))
	}
	if *count < 0 {
		return fs.fail(errors.New("--count must not be negative"))
	}
	start := kgo.NewOffset().AtEnd()
	switch *from {
	case "beginning":
		start = kgo.NewOffset().AtStart()
	case "end":
	default:
		return fs.fail(fmt.Errorf("--from must be beginning or end, not %q", *from))
	}
	opts := []kgo.Opt{kgo.ConsumeTopics(pos[0]), kgo.ConsumeResetOffset(start)}
	if *group != "" {
		opts = append(opts, kgo.ConsumerGroup(*group), kgo.DisableAutoCommit())
	}
	cl, err := kafkaClient(*brokers, opts...)
	if err != nil {
		return err
	}
	defer cl.Close() // leaves the group
	printed := 0
	for *count == 0 || printed < *count {
		fs := cl.PollRecords(ctx, *count-printed)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("%s[%d]: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		recs := fs.Records()
		for _, r := range recs {
			if *verbose {
				fmt.Fprintf(s.out, "%d:%d\t", r.Partition, r.Offset)
			}
			if *keys {
				fmt.Fprintf(s.out, "%s\t", r.Key)
			}
			fmt.Fprintf(s.out, "%s\n", r.Value)
			printed++
		}
		if *group != "" && len(recs) > 0 {
			// Commit what was printed: the next run goes on after the last printed record.
			if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
				return fmt.Errorf("commit: %w", err)
			}
		}
	}
	return nil
}
