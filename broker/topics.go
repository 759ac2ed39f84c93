package broker

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	plog "gantry/broker/log"
)

// Errors of topic management, mapped to Kafka error codes by the handlers.
var (
	errInvalidTopic  = errors.New("invalid topic name")
	errTopicExists   = errors.New("topic already exists")
	errUnknownTopic  = errors.New("unknown topic")
	errInvalidConfig = errors.New("invalid config")
	errInvalidParts  = errors.New("invalid partition count")
)

// validTopicName applies Kafka's rule: 1 to 249 characters of [a-zA-Z0-9._-], and
// neither "." nor "..".
func validTopicName(name string) error {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return fmt.Errorf("%w: %q (1 to 249 characters, not . or ..)", errInvalidTopic, name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q (only a-z A-Z 0-9 . _ -)", errInvalidTopic, name)
		}
	}
	return nil
}

// topicConfigs are the per-topic settings a client may set, with how each is checked.
var topicConfigs = map[string]func(string) error{
	"retention.ms":        intAtLeast(-1),
	"retention.bytes":     intAtLeast(-1),
	"segment.bytes":       intAtLeast(14),
	"segment.ms":          intAtLeast(1),
	"max.message.bytes":   intAtLeast(0),
	"delete.retention.ms": intAtLeast(0),
	"cleanup.policy": func(v string) error {
		if v != "delete" && v != "compact" {
			return errors.New("must be delete or compact")
		}
		return nil
	},
}

func intAtLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return fmt.Errorf("must be an integer of at least %d", min)
		}
		return nil
	}
}

func checkConfigs(cfg map[string]string) error {
	for k, v := range cfg {
		check, ok := topicConfigs[k]
		if !ok {
			return fmt.Errorf("%w: unknown config %q", errInvalidConfig, k)
		}
		if err := check(v); err != nil {
			return fmt.Errorf("%w: %s: %v", errInvalidConfig, k, err)
		}
	}
	return nil
}

// topicMeta is what topic.json holds.
type topicMeta struct {
	ID         [16]byte          `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// topic is one topic: its partitions never shrink, only grow (CreatePartitions).
type topic struct {
	name  string
	dir   string
	meta  topicMeta
	parts []*partition
}

// topics is the broker's set of topics.
//
// Every produce, fetch and metadata request looks topics up under mu, so no file is
// created or fsynced under it: create, grow, alter and remove are serialized by
// adminMu, do their disk work holding only that, and take mu just to install the
// result. Holding adminMu, they may read m and each topic's meta and parts without mu.
type topics struct {
	dir     string
	cfg     *Config
	adminMu sync.Mutex   // serializes create, grow, alter, remove and close; taken before mu
	mu      sync.RWMutex // protects m and each topic's meta and parts
	m       map[string]*topic
	onUp    func(*partition) // called for each partition opened, to hook metrics
}

func openTopics(cfg *Config) (*topics, error) {
	ts := &topics{dir: filepath.Join(cfg.Dir, "topics"), cfg: cfg, m: map[string]*topic{}}
	if err := os.MkdirAll(ts.dir, 0o755); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(ts.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() || validTopicName(e.Name()) != nil {
			continue
		}
		t, err := ts.load(e.Name())
		if err != nil {
			ts.close()
			return nil, fmt.Errorf("topic %s: %w", e.Name(), err)
		}
		ts.m[t.name] = t
	}
	return ts, nil
}

func (ts *topics) load(name string) (*topic, error) {
	t := &topic{name: name, dir: filepath.Join(ts.dir, name)}
	p, err := os.ReadFile(filepath.Join(t.dir, "topic.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(p, &t.meta); err != nil {
		return nil, err
	}
	if t.meta.Partitions < 1 || t.meta.Partitions > ts.cfg.MaxPartitions {
		return nil, fmt.Errorf("%w: %d", errInvalidParts, t.meta.Partitions)
	}
	if err := ts.openPartitions(t, t.meta.Partitions); err != nil {
		return nil, err
	}
	return t, nil
}

func (ts *topics) openPartitions(t *topic, n int32) error {
	for i := int32(len(t.parts)); i < n; i++ {
		p, err := openPartition(t.name, i, filepath.Join(t.dir, strconv.Itoa(int(i))), ts.logConfig(t.meta.Configs), ts.cfg.Logger)
		if err != nil {
			return err
		}
		p.configure(t.meta.Configs)
		t.parts = append(t.parts, p)
		if ts.onUp != nil {
			ts.onUp(p)
		}
	}
	return nil
}

// logConfig is the broker's log defaults with the topic's configs applied.
func (ts *topics) logConfig(c map[string]string) plog.Config {
	lc := ts.cfg.Log
	lc.Logger = ts.cfg.Logger
	lc.FlushMessages = ts.cfg.FlushMessages
	num := func(k string) (int64, bool) {
		n, err := strconv.ParseInt(c[k], 10, 64)
		return n, err == nil
	}
	if n, ok := num("retention.ms"); ok {
		lc.RetentionAge = time.Duration(n) * time.Millisecond
		if n < 0 {
			lc.RetentionAge = -1
		}
	}
	if n, ok := num("retention.bytes"); ok {
		lc.RetentionBytes = max(n, 0)
	}
	if n, ok := num("segment.bytes"); ok {
		lc.SegmentBytes = n
	}
	if n, ok := num("segment.ms"); ok {
		lc.SegmentAge = time.Duration(n) * time.Millisecond
	}
	if c["cleanup.policy"] == "compact" {
		// A compacted topic keeps the latest record of every key, however old.
		lc.RetentionAge, lc.RetentionBytes = -1, 0
	}
	return lc
}

// create makes a topic with n partitions.
func (ts *topics) create(name string, n int32, configs map[string]string, validateOnly bool) (*topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	if n < 1 || n > ts.cfg.MaxPartitions {
		return nil, fmt.Errorf("%w: %d (1 to %d)", errInvalidParts, n, ts.cfg.MaxPartitions)
	}
	if err := checkConfigs(configs); err != nil {
		return nil, err
	}
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	if _, ok := ts.m[name]; ok {
		return nil, fmt.Errorf("%w: %s", errTopicExists, name)
	}
	if validateOnly {
		return &topic{name: name, meta: topicMeta{Partitions: n, Configs: configs}}, nil
	}
	// t is not in m until it is whole and durable, so nobody else sees it meanwhile.
	t := &topic{name: name, dir: filepath.Join(ts.dir, name), meta: topicMeta{Partitions: n, Configs: configs}}
	rand.Read(t.meta.ID[:])
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return nil, err
	}
	if err := ts.openPartitions(t, n); err != nil {
		t.closeLogs()
		os.RemoveAll(t.dir)
		return nil, err
	}
	if err := writeJSON(filepath.Join(t.dir, "topic.json"), t.meta); err != nil {
		t.closeLogs()
		os.RemoveAll(t.dir)
		return nil, err
	}
	syncDirOf(ts.dir)
	ts.mu.Lock()
	ts.m[name] = t
	ts.mu.Unlock()
	return t, nil
}

// grow raises a topic's partition count to n (CreatePartitions).
func (ts *topics) grow(name string, n int32, validateOnly bool) error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	t, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	if n <= t.meta.Partitions || n > ts.cfg.MaxPartitions {
		return fmt.Errorf("%w: %d (more than %d, at most %d)", errInvalidParts, n, t.meta.Partitions, ts.cfg.MaxPartitions)
	}
	if validateOnly {
		return nil
	}
	// The new partitions are opened on a copy, and shown only once topic.json says
	// they exist.
	grown := &topic{name: t.name, dir: t.dir, meta: t.meta, parts: slices.Clone(t.parts)}
	grown.meta.Partitions = n
	err := ts.openPartitions(grown, n)
	if err == nil {
		err = writeJSON(filepath.Join(t.dir, "topic.json"), grown.meta)
	}
	if err != nil {
		for _, p := range grown.parts[len(t.parts):] {
			p.log.Close()
		}
		return err
	}
	ts.mu.Lock()
	t.meta, t.parts = grown.meta, grown.parts
	ts.mu.Unlock()
	return nil
}

// alter replaces a topic's configs with configs (after checking them), durably, and
// applies them to its partitions at once.
func (ts *topics) alter(name string, configs map[string]string, validateOnly bool) error {
	if err := checkConfigs(configs); err != nil {
		return err
	}
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	t, ok := ts.m[name]
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	if validateOnly {
		return nil
	}
	meta := t.meta
	meta.Configs = configs
	if err := writeJSON(filepath.Join(t.dir, "topic.json"), meta); err != nil {
		return err
	}
	ts.mu.Lock()
	t.meta = meta
	ts.mu.Unlock()
	lc := ts.logConfig(configs)
	for _, p := range t.parts {
		p.configure(configs)
		p.log.SetConfig(lc)
	}
	return nil
}

// remove deletes a topic and its data.
func (ts *topics) remove(name string) error {
	// adminMu is held to the end, so that a topic created again with this name is not
	// created in the directory being removed.
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	ts.mu.Lock()
	t, ok := ts.m[name]
	delete(ts.m, name)
	ts.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopic, name)
	}
	for _, p := range t.parts {
		p.log.Remove()
		p.wake()
	}
	return os.RemoveAll(t.dir)
}

// configs returns the configs set on a topic (nil when it does not exist). The map is
// never changed afterwards: alter replaces it.
func (ts *topics) configs(name string) (map[string]string, bool) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t, ok := ts.m[name]
	if !ok {
		return nil, false
	}
	return t.meta.Configs, true
}

func (ts *topics) get(name string) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.m[name]
}

// partition returns the partition, or nil when the topic or partition does not exist.
func (ts *topics) partition(name string, i int32) *partition {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.m[name]
	if t == nil || i < 0 || int(i) >= len(t.parts) {
		return nil
	}
	return t.parts[i]
}

// snapshot returns the topics sorted by name, with their partitions at this moment.
func (ts *topics) snapshot() []topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	out := make([]topic, 0, len(ts.m))
	for _, t := range ts.m {
		c := *t
		c.parts = slices.Clone(t.parts)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (ts *topics) all() []*partition {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	var out []*partition
	for _, t := range ts.m {
		out = append(out, t.parts...)
	}
	return out
}

func (ts *topics) close() error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var first error
	for _, t := range ts.m {
		if err := t.closeLogs(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (t *topic) closeLogs() error {
	var first error
	for _, p := range t.parts {
		if err := p.saveProducers(); err != nil && first == nil {
			first = err
		}
		if err := p.log.Close(); err != nil && first == nil {
			first = err
		}
		p.wake()
	}
	return first
}

// writeJSON replaces name with v, durably: a temporary file synced, then renamed.
func writeJSON(name string, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(p); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	syncDirOf(filepath.Dir(name))
	return nil
}

func syncDirOf(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
