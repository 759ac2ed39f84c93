package broker

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	plog "gantry/broker/log"

	"github.com/twmb/franz-go/pkg/kerr"
)

// producerWindow is how many recent batches per producer are remembered to answer a
// retried batch without appending it twice; Kafka clients keep at most 5 in flight.
const producerWindow = 5

// producerState is what a partition knows of one idempotent producer.
type producerState struct {
	epoch   int16
	nextSeq int32
	recent  []recentBatch // oldest first, at most producerWindow
}

type recentBatch struct {
	firstSeq, lastSeq int32
	base              int64
}

// partition is one partition of a topic.
type partition struct {
	topic string
	index int32
	log   *plog.Log

	cfgMu           sync.Mutex    // protects compact and deleteRetention (AlterConfigs)
	compact         bool          // cleanup.policy=compact: compaction instead of retention
	deleteRetention time.Duration // how long compaction keeps tombstones

	dir string

	mu             sync.Mutex // serializes appends with the producer-state checks
	producers      map[int64]*producerState
	producersDirty bool // changed since the last snapshot

	waitMu  sync.Mutex // protects waiters
	waiters map[chan struct{}]struct{}

	m *partitionMetrics // nil when the broker has no registry
}

func openPartition(topic string, index int32, dir string, cfg plog.Config, lg *slog.Logger) (*partition, error) {
	cfg.Logger = lg.With("topic", topic, "partition", index)
	l, err := plog.Open(dir, cfg)
	if err != nil {
		return nil, err
	}
	p := &partition{topic: topic, index: index, dir: dir, log: l, producers: map[int64]*producerState{}, waiters: map[chan struct{}]struct{}{}}
	// Producer sequences: the last snapshot, then the batches after it. Without a usable
	// snapshot, the active segment's batches; a producer whose last batch is older is
	// then treated as new, and its next sequence taken as it comes.
	from := l.ActiveStart()
	if snap, ok := p.loadProducers(); ok && snap >= l.StartOffset() && snap <= l.EndOffset() {
		from = snap
	} else {
		clear(p.producers)
	}
	l.ForEachBatch(from, func(b plog.Batch, _ []byte) bool {
		if b.ProducerID >= 0 {
			p.track(&b)
		}
		return true
	})
	return p, nil
}

// producerSnapshot is the file that keeps idempotent producers' sequences across
// restarts: the state as of log offset Offset.
type producerSnapshot struct {
	Offset    int64                     `json:"offset"`
	Producers map[int64]producerStateJS `json:"producers"`
}

type producerStateJS struct {
	Epoch   int16      `json:"epoch"`
	NextSeq int32      `json:"next_seq"`
	Recent  [][3]int64 `json:"recent"` // first sequence, last sequence, base offset
}

func (p *partition) snapshotPath() string { return filepath.Join(p.dir, "producers.json") }

// loadProducers reads the snapshot into p.producers and returns its offset.
func (p *partition) loadProducers() (int64, bool) {
	b, err := os.ReadFile(p.snapshotPath())
	if err != nil {
		return 0, false
	}
	var snap producerSnapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return 0, false
	}
	for pid, js := range snap.Producers {
		st := &producerState{epoch: js.Epoch, nextSeq: js.NextSeq}
		for _, r := range js.Recent {
			st.recent = append(st.recent, recentBatch{int32(r[0]), int32(r[1]), r[2]})
		}
		p.producers[pid] = st
	}
	return snap.Offset, true
}

// saveProducers writes the producer snapshot when the state changed since the last one.
func (p *partition) saveProducers() error {
	p.mu.Lock()
	if !p.producersDirty {
		p.mu.Unlock()
		return nil
	}
	snap := producerSnapshot{Offset: p.log.EndOffset(), Producers: make(map[int64]producerStateJS, len(p.producers))}
	for pid, st := range p.producers {
		js := producerStateJS{Epoch: st.epoch, NextSeq: st.nextSeq}
		for _, r := range st.recent {
			js.Recent = append(js.Recent, [3]int64{int64(r.firstSeq), int64(r.lastSeq), r.base})
		}
		snap.Producers[pid] = js
	}
	p.producersDirty = false
	p.mu.Unlock()
	return writeJSON(p.snapshotPath(), snap)
}

// configure applies the topic configs that the partition itself acts on.
func (p *partition) configure(c map[string]string) {
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	p.compact = c["cleanup.policy"] == "compact"
	p.deleteRetention = 24 * time.Hour
	if n, err := strconv.ParseInt(c["delete.retention.ms"], 10, 64); err == nil {
		p.deleteRetention = time.Duration(n) * time.Millisecond
	}
}

// cleanup returns how retention treats the partition.
func (p *partition) cleanup() (compact bool, deleteRetention time.Duration) {
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	return p.compact, p.deleteRetention
}

// append checks and appends the records of one Produce partition. A retried batch of
// an idempotent producer is answered with the offset it got the first time.
// end is the offset below which the log must be synced for the records to be durable.
func (p *partition) append(recs []byte) (base, end int64, code int16) {
	batches, err := plog.SplitBatches(recs)
	if err != nil || len(batches) == 0 {
		return -1, 0, kerr.CorruptMessage.Code
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pid := batches[0].ProducerID; pid >= 0 {
		for i := range batches {
			if batches[i].ProducerID != pid {
				return -1, 0, kerr.InvalidRecord.Code
			}
		}
		if dup, code := p.checkSequence(&batches[0]); code != 0 || dup >= 0 {
			return dup, p.log.EndOffset(), code
		}
	}
	first, last, err := p.log.AppendParsed(recs, batches)
	if errors.Is(err, plog.ErrClosed) {
		return -1, 0, kerr.UnknownTopicOrPartition.Code // deleted under the produce
	}
	if err != nil {
		return -1, 0, kerr.KafkaStorageError.Code
	}
	if batches[0].ProducerID >= 0 {
		for i := range batches {
			p.track(&batches[i])
		}
	}
	p.wake()
	return first, last + 1, 0
}

// checkSequence applies the idempotent producer's rules to b: a batch already
// appended is a duplicate (its base offset returned), a gap or a reordering is
// OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch is INVALID_PRODUCER_EPOCH.
func (p *partition) checkSequence(b *plog.Batch) (dup int64, code int16) {
	st := p.producers[b.ProducerID]
	switch {
	case st == nil:
		return -1, 0
	case b.ProducerEpoch < st.epoch:
		return -1, kerr.InvalidProducerEpoch.Code
	case b.ProducerEpoch > st.epoch:
		if b.BaseSequence != 0 {
			return -1, kerr.OutOfOrderSequenceNumber.Code
		}
		return -1, 0
	}
	last := b.BaseSequence + b.LastOffsetDelta
	for _, r := range st.recent {
		if r.firstSeq == b.BaseSequence && r.lastSeq == last {
			return r.base, 0
		}
	}
	if b.BaseSequence != st.nextSeq {
		return -1, kerr.OutOfOrderSequenceNumber.Code
	}
	return -1, 0
}

// maxProducers bounds the producers a partition remembers; beyond it, the one that
// appended longest ago is forgotten (its next batch is then taken as it comes).
const maxProducers = 10000

// track records an appended batch of an idempotent producer.
func (p *partition) track(b *plog.Batch) {
	p.producersDirty = true
	st := p.producers[b.ProducerID]
	if st == nil || b.ProducerEpoch > st.epoch {
		if st == nil && len(p.producers) >= maxProducers {
			p.evictOldestProducer()
		}
		st = &producerState{epoch: b.ProducerEpoch}
		p.producers[b.ProducerID] = st
	}
	last := b.BaseSequence + b.LastOffsetDelta
	st.nextSeq = last + 1
	if st.nextSeq < 0 { // sequences wrap to 0 after MaxInt32
		st.nextSeq = 0
	}
	st.recent = append(st.recent, recentBatch{b.BaseSequence, last, b.BaseOffset})
	if len(st.recent) > producerWindow {
		st.recent = st.recent[1:]
	}
}

func (p *partition) evictOldestProducer() {
	oldest, at := int64(-1), int64(1<<62)
	for pid, st := range p.producers {
		if n := len(st.recent); n > 0 && st.recent[n-1].base < at {
			oldest, at = pid, st.recent[n-1].base
		}
	}
	delete(p.producers, oldest)
}

// watch registers ch to receive a signal whenever records are appended (or the
// partition goes away). Signals do not queue beyond ch's buffer.
func (p *partition) watch(ch chan struct{}) {
	p.waitMu.Lock()
	p.waiters[ch] = struct{}{}
	p.waitMu.Unlock()
}

func (p *partition) unwatch(ch chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, ch)
	p.waitMu.Unlock()
}

func (p *partition) wake() {
	p.waitMu.Lock()
	for ch := range p.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}
