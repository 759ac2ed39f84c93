package broker

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type versionRange struct{ min, max int16 }

// apiVersions is every API the broker answers, with the versions it implements. A
// request for anything else closes the connection. Keep docs/broker.md in step.
var apiVersions = map[kmsg.Key]versionRange{
	kmsg.Produce:                 {3, 9},
	kmsg.Fetch:                   {4, 12},
	kmsg.ListOffsets:             {1, 6},
	kmsg.Metadata:                {1, 12},
	kmsg.ApiVersions:             {0, 3},
	kmsg.CreateTopics:            {0, 7},
	kmsg.DeleteTopics:            {0, 5},
	kmsg.InitProducerID:          {0, 4},
	kmsg.DescribeConfigs:         {0, 4},
	kmsg.CreatePartitions:        {0, 3},
	kmsg.DescribeCluster:         {0, 1},
	kmsg.FindCoordinator:         {0, 4},
	kmsg.JoinGroup:               {0, 9},
	kmsg.SyncGroup:               {0, 5},
	kmsg.Heartbeat:               {0, 4},
	kmsg.LeaveGroup:              {0, 5},
	kmsg.OffsetCommit:            {0, 8},
	kmsg.OffsetFetch:             {0, 7},
	kmsg.DescribeGroups:          {0, 5},
	kmsg.ListGroups:              {0, 4},
	kmsg.DeleteGroups:            {0, 2},
	kmsg.AlterConfigs:            {0, 2},
	kmsg.IncrementalAlterConfigs: {0, 1},
}

func apiVersionList() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apiVersions))
	for k, v := range apiVersions {
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(k), MinVersion: v.min, MaxVersion: v.max})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	return out
}

// handle runs the handler of req, filling p with the answer or with how to get it.
func (s *Server) handle(c *conn, req kmsg.Request, p *pending) {
	if s.handleGroup(c, req, p) {
		return
	}
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = apiVersionList()
		p.resp = resp
	case *kmsg.MetadataRequest:
		p.resp = s.metadata(r)
	case *kmsg.ProduceRequest:
		s.produce(r, p)
	case *kmsg.FetchRequest:
		bufs := &fetchBufs{pool: &s.readBufs}
		p.wait = func() kmsg.Response { return s.fetch(r, bufs) }
		p.done = bufs.release
	case *kmsg.ListOffsetsRequest:
		p.resp = s.listOffsets(r)
	case *kmsg.CreateTopicsRequest:
		p.resp = s.createTopics(r)
	case *kmsg.DeleteTopicsRequest:
		p.resp = s.deleteTopics(r)
	case *kmsg.CreatePartitionsRequest:
		p.resp = s.createPartitions(r)
	case *kmsg.InitProducerIDRequest:
		p.resp = s.initProducerID(r)
	case *kmsg.DescribeConfigsRequest:
		p.resp = s.describeConfigs(r)
	case *kmsg.DescribeClusterRequest:
		p.resp = s.describeCluster(r)
	case *kmsg.AlterConfigsRequest:
		p.resp = s.alterConfigs(r)
	case *kmsg.IncrementalAlterConfigsRequest:
		p.resp = s.incrementalAlterConfigs(r)
	default:
		// apiVersions and this switch disagree: a programming error, answered as the
		// protocol allows (by closing) rather than by a crash.
		c.lg.Error("no handler", "api", kmsg.Key(req.Key()).Name())
		p.none = true
		c.nc.Close()
	}
}

// errorCode maps the broker's errors to Kafka error codes.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, errTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, errUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, errInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errInvalidParts):
		return kerr.InvalidPartitions.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
