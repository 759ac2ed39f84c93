package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

const groupDoc = `Group shows the consumer groups of a Kafka-protocol broker.

Subcommands:
  list              every group and its state
  describe GROUP    state, protocol, members and their partitions, and per partition
                    the committed offset, the end offset and the lag between them`

func runGroup(ctx context.Context, s stdio, args []string) error {
	fs := newFlags(s, "group", "group list | describe GROUP [--brokers ADDRS]", groupDoc)
	brokers := brokersFlag(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fs.fail(errors.New("missing subcommand: list or describe"))
	}
	switch {
	case pos[0] == "list" && len(pos) == 1:
	case pos[0] == "describe" && len(pos) == 2:
	case pos[0] == "list" || pos[0] == "describe":
		return fs.fail(fmt.Errorf("wrong arguments for group %s", pos[0]))
	default:
		return fs.fail(fmt.Errorf("unknown subcommand %q: want list or describe", pos[0]))
	}
	cl, err := kafkaClient(*brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if pos[0] == "list" {
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL TYPE")
		for _, g := range groups.Sorted() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
		}
		return tw.Flush()
	}
	name := pos[1]
	dg, err := adm.DescribeGroups(ctx, name)
	if err != nil {
		return err
	}
	g := dg[name]
	if g.Err != nil {
		return fmt.Errorf("describe %s: %w", name, g.Err)
	}
	fmt.Fprintf(s.out, "group %s: state %s, protocol %s, %d members\n", name, g.State, g.Protocol, len(g.Members))
	owner := map[string]map[int32]string{}
	for _, m := range g.Members {
		fmt.Fprintf(s.out, "  member %s (client %s, host %s)\n", m.MemberID, m.ClientID, m.ClientHost)
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				for _, p := range t.Partitions {
					if owner[t.Topic] == nil {
						owner[t.Topic] = map[int32]string{}
					}
					owner[t.Topic][p] = m.MemberID
				}
			}
		}
	}
	lag, err := adm.Lag(ctx, name)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, l := range lag[name].Lag.Sorted() {
		member := owner[l.Topic][l.Partition]
		if member == "" {
			member = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", l.Topic, l.Partition, l.Commit.At, l.End.Offset, l.Lag, member)
	}
	return tw.Flush()
}
