package broker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const clusterID = "gantry"

// unknownAuthorizedOps is Kafka's "not requested" value for authorized operations.
const unknownAuthorizedOps = -2147483648

func (s *Server) metadata(r *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.advertised()
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: host, Port: port}}
	id := clusterID
	resp.ClusterID = &id
	resp.ControllerID = 0

	var ts []topic
	if r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0) {
		ts = s.topics.snapshot()
	} else {
		all := s.topics.snapshot()
		for _, rt := range r.Topics {
			if rt.Topic == nil { // by topic id (v10+)
				found := false
				for _, t := range all {
					if t.meta.ID == rt.TopicID {
						ts, found = append(ts, t), true
					}
				}
				if !found {
					resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{ErrorCode: kerr.UnknownTopicID.Code, TopicID: rt.TopicID, Partitions: []kmsg.MetadataResponseTopicPartition{}})
				}
				continue
			}
			name := *rt.Topic
			t := s.topics.get(name)
			code := int16(0)
			if t == nil && s.cfg.AutoCreateTopics && (r.Version < 4 || r.AllowAutoTopicCreation) {
				var err error
				t, err = s.topics.create(name, s.cfg.DefaultPartitions, nil, false)
				if err != nil {
					t, code = s.topics.get(name), errorCode(err) // lost a race, or a bad name
				} else {
					s.log.Info("auto-created topic", "topic", name, "partitions", s.cfg.DefaultPartitions)
				}
			}
			if t == nil {
				if code == 0 || code == kerr.TopicAlreadyExists.Code {
					code = kerr.UnknownTopicOrPartition.Code
				}
				if validTopicName(name) != nil {
					code = kerr.InvalidTopicException.Code
				}
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{ErrorCode: code, Topic: rt.Topic, Partitions: []kmsg.MetadataResponseTopicPartition{}})
				continue
			}
			ts = append(ts, *snapshotTopic(s.topics, t))
		}
	}
	for _, t := range ts {
		name := t.name
		mt := kmsg.MetadataResponseTopic{Topic: &name, TopicID: t.meta.ID, AuthorizedOperations: unknownAuthorizedOps}
		for i := range t.parts {
			mt.Partitions = append(mt.Partitions, kmsg.MetadataResponseTopicPartition{
				Partition: int32(i), Leader: 0, LeaderEpoch: 0,
				Replicas: []int32{0}, ISR: []int32{0}, OfflineReplicas: []int32{},
			})
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func snapshotTopic(ts *topics, t *topic) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	c := *t
	c.parts = append([]*partition(nil), t.parts...)
	return &c
}

func (s *Server) createTopics(r *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, rt := range r.Topics {
		out := kmsg.NewCreateTopicsResponseTopic()
		out.Topic = rt.Topic
		n := rt.NumPartitions
		if n == -1 {
			n = s.cfg.DefaultPartitions
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		var err error
		switch {
		case rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1:
			out.ErrorCode = kerr.InvalidReplicationFactor.Code
			msg := "a single-node broker takes replication factor 1 (or -1)"
			out.ErrorMessage = &msg
		case len(rt.ReplicaAssignment) > 0:
			out.ErrorCode = kerr.InvalidRequest.Code
			msg := "replica assignments are not supported on a single node"
			out.ErrorMessage = &msg
		default:
			var t *topic
			t, err = s.topics.create(rt.Topic, n, configs, r.ValidateOnly)
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
			if err == nil {
				out.TopicID = t.meta.ID
				out.NumPartitions = n
				out.ReplicationFactor = 1
				for _, c := range s.topicConfigEntries(configs) {
					out.Configs = append(out.Configs, kmsg.CreateTopicsResponseTopicConfig{
						Name: c.Name, Value: c.Value, Source: int8(c.Source),
					})
				}
				if !r.ValidateOnly {
					s.log.Info("created topic", "topic", rt.Topic, "partitions", n)
				}
			}
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func (s *Server) deleteTopics(r *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	for _, name := range r.TopicNames {
		err := s.topics.remove(name)
		n := name
		resp.Topics = append(resp.Topics, kmsg.DeleteTopicsResponseTopic{Topic: &n, ErrorCode: errorCode(err), ErrorMessage: errorMessage(err)})
		if err == nil {
			s.log.Info("deleted topic", "topic", name)
		}
	}
	return resp
}

func (s *Server) createPartitions(r *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range r.Topics {
		err := s.topics.grow(rt.Topic, rt.Count, r.ValidateOnly)
		resp.Topics = append(resp.Topics, kmsg.CreatePartitionsResponseTopic{Topic: rt.Topic, ErrorCode: errorCode(err), ErrorMessage: errorMessage(err)})
	}
	return resp
}

func (s *Server) initProducerID(r *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	if r.TransactionalID != nil {
		// Transactions are not implemented: say so rather than half-do them.
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	id, err := s.pids.nextID()
	if err != nil {
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

// topicConfigEntries lists every topic config with its effective value.
func (s *Server) topicConfigEntries(set map[string]string) []kmsg.DescribeConfigsResponseResourceConfig {
	lc := s.topics.logConfig(nil)
	lc.Logger = nil
	defaults := map[string]string{
		"retention.ms":        strconv.FormatInt(lc.RetentionAge.Milliseconds(), 10),
		"retention.bytes":     "-1",
		"segment.bytes":       strconv.FormatInt(lc.SegmentBytes, 10),
		"segment.ms":          strconv.FormatInt(lc.SegmentAge.Milliseconds(), 10),
		"max.message.bytes":   strconv.Itoa(int(s.cfg.MessageMaxBytes)),
		"cleanup.policy":      "delete",
		"delete.retention.ms": "86400000",
	}
	if lc.RetentionAge <= 0 {
		defaults["retention.ms"] = "-1"
	}
	if lc.RetentionBytes > 0 {
		defaults["retention.bytes"] = strconv.FormatInt(lc.RetentionBytes, 10)
	}
	if lc.SegmentBytes == 0 {
		defaults["segment.bytes"] = strconv.Itoa(128 << 20)
	}
	if lc.SegmentAge == 0 {
		defaults["segment.ms"] = strconv.Itoa(7 * 24 * 3600 * 1000)
	}
	if lc.RetentionAge == 0 {
		defaults["retention.ms"] = strconv.Itoa(7 * 24 * 3600 * 1000)
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, name := range sortedKeys(defaults) {
		v, src, isDefault := defaults[name], kmsg.ConfigSourceDefaultConfig, true
		if sv, ok := set[name]; ok {
			v, src, isDefault = sv, kmsg.ConfigSourceDynamicTopicConfig, false
		}
		out = append(out, kmsg.DescribeConfigsResponseResourceConfig{Name: name, Value: &v, Source: src, IsDefault: isDefault, ConfigType: configType(name)})
	}
	return out
}

func configType(name string) kmsg.ConfigType {
	if name == "cleanup.policy" {
		return kmsg.ConfigTypeList
	}
	return kmsg.ConfigTypeLong
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func (s *Server) describeConfigs(r *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, res := range r.Resources {
		out := kmsg.DescribeConfigsResponseResource{ResourceType: res.ResourceType, ResourceName: res.ResourceName}
		var entries []kmsg.DescribeConfigsResponseResourceConfig
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			configs, ok := s.topics.configs(res.ResourceName)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			entries = s.topicConfigEntries(configs)
		case kmsg.ConfigResourceTypeBroker:
			if res.ResourceName != "" && res.ResourceName != "0" {
				out.ErrorCode = kerr.InvalidRequest.Code
				break
			}
			entries = s.brokerConfigEntries()
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
		}
		for _, e := range entries {
			if len(res.ConfigNames) > 0 && !contains(res.ConfigNames, e.Name) {
				continue
			}
			e.ReadOnly = res.ResourceType == kmsg.ConfigResourceTypeBroker
			out.Configs = append(out.Configs, e)
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

func (s *Server) brokerConfigEntries() []kmsg.DescribeConfigsResponseResourceConfig {
	vals := map[string]string{
		"auto.create.topics.enable":   strconv.FormatBool(s.cfg.AutoCreateTopics),
		"num.partitions":              strconv.Itoa(int(s.cfg.DefaultPartitions)),
		"message.max.bytes":           strconv.Itoa(int(s.cfg.MessageMaxBytes)),
		"socket.request.max.bytes":    strconv.Itoa(int(s.cfg.MaxRequestBytes)),
		"log.flush.interval.ms":       strconv.FormatInt(s.cfg.FlushInterval.Milliseconds(), 10),
		"log.flush.interval.messages": strconv.FormatInt(s.cfg.FlushMessages, 10),
		"broker.id":                   "0",
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, k := range sortedKeys(vals) {
		v := vals[k]
		out = append(out, kmsg.DescribeConfigsResponseResourceConfig{Name: k, Value: &v, Source: kmsg.ConfigSourceStaticBrokerConfig})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) describeCluster(r *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	host, port := s.advertised()
	resp.ClusterID = clusterID
	resp.ControllerID = 0
	resp.EndpointType = 1
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{{NodeID: 0, Host: host, Port: port}}
	resp.ClusterAuthorizedOperations = unknownAuthorizedOps
	return resp
}

// alterConfigs handles AlterConfigs: a topic's configs are replaced by the given set.
func (s *Server) alterConfigs(r *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, res := range r.Resources {
		out := kmsg.AlterConfigsResponseResource{ResourceType: res.ResourceType, ResourceName: res.ResourceName}
		if res.ResourceType != kmsg.ConfigResourceTypeTopic {
			out.ErrorCode, out.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(errBrokerConfigs)
		} else {
			configs := map[string]string{}
			for _, c := range res.Configs {
				if c.Value != nil {
					configs[c.Name] = *c.Value
				}
			}
			err := s.topics.alter(res.ResourceName, configs, r.ValidateOnly)
			out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
			if err == nil && !r.ValidateOnly {
				s.log.Info("altered topic configs", "topic", res.ResourceName, "configs", configs)
			}
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp
}

var errBrokerConfigs = errors.New("only topic configs can be altered; broker settings are flags")

// incrementalAlterConfigs handles IncrementalAlterConfigs: set and delete (back to the
// default) single topic configs. Append and subtract apply to list configs, and this
// broker's only list config, cleanup.policy, takes one value: they are refused.
func (s *Server) incrementalAlterConfigs(r *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, res := range r.Resources {
		out := kmsg.IncrementalAlterConfigsResponseResource{ResourceType: res.ResourceType, ResourceName: res.ResourceName}
		resp.Resources = append(resp.Resources, out)
		o := &resp.Resources[len(resp.Resources)-1]
		if res.ResourceType != kmsg.ConfigResourceTypeTopic {
			o.ErrorCode, o.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(errBrokerConfigs)
			continue
		}
		current, ok := s.topics.configs(res.ResourceName)
		if !ok {
			o.ErrorCode = kerr.UnknownTopicOrPartition.Code
			continue
		}
		configs := maps.Clone(current)
		if configs == nil {
			configs = map[string]string{}
		}
		var err error
		for _, c := range res.Configs {
			switch {
			case c.Op == kmsg.IncrementalAlterConfigOpSet && c.Value != nil:
				configs[c.Name] = *c.Value
			case c.Op == kmsg.IncrementalAlterConfigOpDelete:
				delete(configs, c.Name)
			default:
				err = fmt.Errorf("%w: %s: operation %v is not supported", errInvalidConfig, c.Name, c.Op)
			}
		}
		if err == nil {
			// A race with another alter of the same topic: the last one wins whole.
			err = s.topics.alter(res.ResourceName, configs, r.ValidateOnly)
		}
		o.ErrorCode, o.ErrorMessage = errorCode(err), errorMessage(err)
		if err == nil && !r.ValidateOnly {
			s.log.Info("altered topic configs", "topic", res.ResourceName, "configs", configs)
		}
	}
	return resp
}
