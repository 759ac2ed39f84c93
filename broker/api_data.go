package broker

import (
	"errors"
	"strconv"
	"sync"
	"time"

	plog "gantry/broker/log"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxFetchWait bounds how long a Fetch may wait for data, whatever the client asks.
const maxFetchWait = 5 * time.Minute

// produce appends each partition's records in request order, then, for acks=all,
// starts their fsyncs and leaves the writer to wait for them: pipelined produces share
// and overlap them.
func (s *Server) produce(r *kmsg.ProduceRequest, p *pending) {
	start := time.Now()
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	var toSync []appended
	badAcks := r.Acks != 0 && r.Acks != 1 && r.Acks != -1
	for _, rt := range r.Topics {
		// Sized up front: toSync keeps pointers into this slice.
		ot := kmsg.ProduceResponseTopic{Topic: rt.Topic, Partitions: make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))}
		for _, rp := range rt.Partitions {
			ot.Partitions = append(ot.Partitions, kmsg.ProduceResponseTopicPartition{
				Partition: rp.Partition, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1,
			})
			out := &ot.Partitions[len(ot.Partitions)-1]
			part, code := s.producePartition(r, rt.Topic, rp, badAcks)
			out.ErrorCode = code
			if code != 0 {
				continue
			}
			base, end, code := part.append(rp.Records)
			out.ErrorCode, out.BaseOffset = code, base
			if code != 0 {
				continue
			}
			out.LogStartOffset = part.log.StartOffset()
			s.m.produced(part, rp.Records)
			if r.Acks == -1 {
				toSync = append(toSync, appended{part, end, out})
			}
		}
		resp.Topics = append(resp.Topics, ot)
	}
	// out points into resp.Topics[i].Partitions, whose backing arrays are final now.
	if r.Acks == 0 {
		p.none = true
		return
	}
	if len(toSync) == 0 {
		s.m.produceLatency(time.Since(start))
		p.resp = resp
		return
	}
	// The syncs start now, in the reader, not when the writer reaches this request: the
	// syncs of the requests in flight on one connection (each often to another partition)
	// then overlap in the disk's queue instead of running one after the other behind the
	// answers before them. The answer still waits for all of them.
	waitSyncs := s.startSyncs(toSync)
	p.wait = func() kmsg.Response {
		waitSyncs()
		s.m.produceLatency(time.Since(start))
		return resp
	}
}

// appended is one answer entry of an acks=all produce: its records end at end in part.
type appended struct {
	part *partition
	end  int64
	out  *kmsg.ProduceResponseTopicPartition
}

// startSyncs starts the fsyncs an acks=all produce waits for, in parallel: one per
// partition, to the end of its last append in the request, so that a request naming a
// partition many times starts one goroutine for it, not one per entry (a sync that finds
// its records covered by another, Log.SyncTo, returns at once). The returned wait blocks
// until every sync has ended and marks the entries of a partition that failed to sync.
func (s *Server) startSyncs(entries []appended) (wait func()) {
	type partSync struct {
		part *partition
		end  int64
		err  error
	}
	syncs := make([]partSync, 0, len(entries))
	at := make([]int, len(entries)) // entry i's partition is syncs[at[i]]
	index := make(map[*partition]int, len(entries))
	for i, e := range entries {
		j, ok := index[e.part]
		if !ok {
			j = len(syncs)
			index[e.part] = j
			syncs = append(syncs, partSync{part: e.part})
		}
		syncs[j].end = max(syncs[j].end, e.end)
		at[i] = j
	}
	var wg sync.WaitGroup
	wg.Add(len(syncs))
	for i := range syncs {
		ps := &syncs[i]
		go func() {
			defer wg.Done()
			if ps.err = s.sync(ps.part, ps.end); ps.err != nil {
				s.log.Error("produce: sync", "topic", ps.part.topic, "partition", ps.part.index, "err", ps.err)
			}
		}()
	}
	return func() {
		wg.Wait()
		for i, e := range entries {
			if syncs[at[i]].err != nil {
				e.out.ErrorCode = kerr.KafkaStorageError.Code
			}
		}
	}
}

// producePartition finds (or auto-creates) the partition a Produce names and checks
// what can be checked before appending.
func (s *Server) producePartition(r *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition, badAcks bool) (*partition, int16) {
	if badAcks {
		return nil, kerr.InvalidRequiredAcks.Code
	}
	if r.TransactionID != nil {
		return nil, kerr.TransactionalIDAuthorizationFailed.Code
	}
	part := s.topics.partition(topic, rp.Partition)
	if part == nil && s.cfg.AutoCreateTopics && s.topics.get(topic) == nil {
		if _, err := s.topics.create(topic, s.cfg.DefaultPartitions, nil, false); err == nil {
			s.log.Info("auto-created topic", "topic", topic, "partitions", s.cfg.DefaultPartitions)
		}
		part = s.topics.partition(topic, rp.Partition)
	}
	if part == nil {
		if validTopicName(topic) != nil {
			return nil, kerr.InvalidTopicException.Code
		}
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	limit := int(s.cfg.MessageMaxBytes)
	if c, ok := s.topics.configs(topic); ok {
		if v, ok := c["max.message.bytes"]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				limit = n
			}
		}
	}
	if len(rp.Records) > limit {
		return nil, kerr.MessageTooLarge.Code
	}
	return part, 0
}

// fetch answers a Fetch: it reads what is there, and when that is less than MinBytes
// it waits for appends until MaxWait, reading again after each.
// The batches read lie in buffers from bufs, which the caller releases once the
// response is written.
func (s *Server) fetch(r *kmsg.FetchRequest, bufs *fetchBufs) kmsg.Response {
	start := time.Now()
	wait := min(time.Duration(r.MaxWaitMillis)*time.Millisecond, maxFetchWait)
	deadline := start.Add(wait)
	var wake chan struct{}
	var timer *time.Timer
	for {
		resp, n, stop := s.readFetch(r, bufs)
		if stop || n >= int(r.MinBytes) || !time.Now().Before(deadline) || s.ctx.Err() != nil {
			if wake != nil {
				s.unwatchFetch(r, wake)
				timer.Stop()
			}
			s.m.fetchLatency(time.Since(start))
			return resp
		}
		bufs.release() // resp is dropped: the next read fills the buffers again
		if wake == nil {
			// Watch before reading again, so that an append between the read above and
			// the wait below is not missed.
			wake = make(chan struct{}, 1)
			s.watchFetch(r, wake)
			timer = time.NewTimer(time.Until(deadline))
			continue
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-s.ctx.Done():
		}
	}
}

func (s *Server) watchFetch(r *kmsg.FetchRequest, ch chan struct{}) {
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			if p := s.topics.partition(rt.Topic, rp.Partition); p != nil {
				p.watch(ch)
			}
		}
	}
}

func (s *Server) unwatchFetch(r *kmsg.FetchRequest, ch chan struct{}) {
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			if p := s.topics.partition(rt.Topic, rp.Partition); p != nil {
				p.unwatch(ch)
			}
		}
	}
}

// readFetch reads every partition of a Fetch once, into buffers from bufs (nil: new
// ones). It returns the response, the bytes of records in it, and whether some
// partition has an error (which answers at once).
func (s *Server) readFetch(r *kmsg.FetchRequest, bufs *fetchBufs) (*kmsg.FetchResponse, int, bool) {
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	maxBytes := int(r.MaxBytes)
	if maxBytes <= 0 || maxBytes > int(s.cfg.FetchMaxBytes) {
		maxBytes = int(s.cfg.FetchMaxBytes)
	}
	total, stop := 0, false
	for _, rt := range r.Topics {
		ot := kmsg.FetchResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID}
		for _, rp := range rt.Partitions {
			op := kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			op.RecordBatches = []byte{} // empty, not null: librdkafka refuses a null record set
			p := s.topics.partition(rt.Topic, rp.Partition)
			if p == nil {
				op.ErrorCode, stop = kerr.UnknownTopicOrPartition.Code, true
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			end := p.log.EndOffset()
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = end, end, p.log.StartOffset()
			limit := min(int(rp.PartitionMaxBytes), maxBytes-total)
			if limit <= 0 && total > 0 {
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			var get func(int) []byte
			if bufs != nil {
				get = bufs.get
			}
			data, err := p.log.ReadWith(rp.FetchOffset, max(limit, 1), get)
			switch {
			case errors.Is(err, plog.ErrOutOfRange):
				op.ErrorCode, stop = kerr.OffsetOutOfRange.Code, true
			case errors.Is(err, plog.ErrClosed):
				op.ErrorCode, stop = kerr.UnknownTopicOrPartition.Code, true
			case err != nil:
				s.log.Error("fetch: read", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				op.ErrorCode, stop = kerr.KafkaStorageError.Code, true
			case len(data) > limit && total > 0:
				// The first batch here is bigger than what is left of the response: it
				// waits for a fetch of its own, where it is allowed to overflow.
			case len(data) == 0:
			default:
				op.RecordBatches = data
				total += len(data)
				s.m.fetched(p, data)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, total, stop
}

func (s *Server) listOffsets(r *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range r.Topics {
		ot := kmsg.ListOffsetsResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			op := kmsg.NewListOffsetsResponseTopicPartition()
			op.Partition, op.LeaderEpoch = rp.Partition, 0
			p := s.topics.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Timestamp == -1: // latest
				op.Offset, op.Timestamp = p.log.EndOffset(), -1
			case rp.Timestamp == -2: // earliest
				op.Offset, op.Timestamp = p.log.StartOffset(), -1
			case rp.Timestamp < 0:
				op.ErrorCode = kerr.InvalidRequest.Code
			default:
				off, ts, ok, err := p.log.OffsetForTime(rp.Timestamp)
				switch {
				case err != nil:
					op.ErrorCode = kerr.KafkaStorageError.Code
				case ok:
					op.Offset, op.Timestamp = off, ts
				default:
					op.Offset, op.Timestamp = -1, -1
				}
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
