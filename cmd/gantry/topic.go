package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const topicDoc = `Topic manages the topics of a Kafka-protocol broker (gantry broker, or Kafka itself).

Subcommands:
  create NAME [--partitions N] [--config KEY=VALUE]...
  list
  describe NAME      partitions with their start and end offsets, and the configs
  alter NAME [--config KEY=VALUE]... [--delete-config KEY]...
  delete NAME`

// brokersFlag adds the --brokers flag every Kafka client command shares.
func brokersFlag(fs *flagSet) *string {
	return fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap addresses")
}

// kafkaClient is the franz-go client of the Kafka client commands.
func kafkaClient(brokers string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, opts...)...)
}

// configList is the repeatable --config flag of topic create.
type configList []string

func (l *configList) String() string     { return strings.Join(*l, ",") }
func (l *configList) Set(v string) error { *l = append(*l, v); return nil }

func runTopic(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "topic", "topic create|list|describe|alter|delete [NAME] [flags]", topicDoc)
	brokers := brokersFlag(fs)
	partitions := fs.Int("partitions", 1, "partitions of a new topic")
	var configs, deletes configList
	fs.Var(&configs, "config", "a topic config KEY=VALUE for create or alter (repeatable)")
	fs.Var(&deletes, "delete-config", "a topic config KEY to reset to the default, for alter (repeatable)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fs.fail(errors.New("missing subcommand: create, list, describe, alter or delete"))
	}
	sub, names := pos[0], pos[1:]
	needName := sub != "list"
	if needName && len(names) != 1 || !needName && len(names) != 0 {
		return fs.fail(fmt.Errorf("topic %s takes %s", sub, map[bool]string{true: "one topic name", false: "no arguments"}[needName]))
	}
	cl, err := kafkaClient(*brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	switch sub {
	case "create":
		cfg := map[string]*string{}
		for _, kv := range configs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fs.fail(fmt.Errorf("--config %q: want KEY=VALUE", kv))
			}
			cfg[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, int32(*partitions), -1, cfg, names[0])
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", names[0], err)
		}
		fmt.Fprintf(s.out, "created topic %s with %d partitions\n", names[0], *partitions)
	case "list":
		details, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITIONS")
		for _, t := range details.Sorted() {
			fmt.Fprintf(tw, "%s\t%d\n", t.Topic, len(t.Partitions))
		}
		return tw.Flush()
	case "describe":
		return describeTopic(ctx, s, adm, names[0])
	case "alter":
		var ops []kadm.AlterConfig
		for _, kv := range configs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fs.fail(fmt.Errorf("--config %q: want KEY=VALUE", kv))
			}
			ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
		}
		for _, k := range deletes {
			ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
		if len(ops) == 0 {
			return fs.fail(errors.New("alter needs --config or --delete-config"))
		}
		resp, err := adm.AlterTopicConfigs(ctx, ops, names[0])
		if err == nil && len(resp) > 0 {
			err = resp[0].Err
		}
		if err != nil {
			return fmt.Errorf("alter %s: %w", names[0], err)
		}
		fmt.Fprintf(s.out, "altered topic %s\n", names[0])
	case "delete":
		resp, err := adm.DeleteTopics(ctx, names[0])
		if err == nil {
			err = resp[names[0]].Err
		}
		if err != nil {
			return fmt.Errorf("delete %s: %w", names[0], err)
		}
		fmt.Fprintf(s.out, "deleted topic %s\n", names[0])
	default:
		return fs.fail(fmt.Errorf("unknown subcommand %q: want create, list, describe, alter or delete", sub))
	}
	return nil
}

func describeTopic(ctx context.Context, s stdio, adm *kadm.Client, name string) error {
	details, err := adm.ListTopics(ctx, name)
	if err != nil {
		return err
	}
	td, ok := details[name]
	if !ok || td.Err != nil {
		return fmt.Errorf("describe %s: %v", name, td.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, name)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "topic %s: %d partitions\n", name, len(td.Partitions))
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tSTART\tEND\tRECORDS")
	for _, p := range td.Partitions.Sorted() {
		st, _ := starts.Lookup(name, p.Partition)
		en, _ := ends.Lookup(name, p.Partition)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\n", p.Partition, p.Leader, st.Offset, en.Offset, en.Offset-st.Offset)
	}
	tw.Flush()
	cfgs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return err
	}
	rc, err := cfgs.On(name, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(s.out, "configs:")
	for _, c := range rc.Configs {
		src := "default"
		if c.Source != kmsg.ConfigSourceDefaultConfig {
			src = "set"
		}
		fmt.Fprintf(s.out, "  %s=%s (%s)\n", c.Key, c.MaybeValue(), src)
	}
	return nil
}
