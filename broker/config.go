package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	plog "gantry/broker/log"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the broker's configuration. Zero values mean the documented defaults.
type Config struct {
	// Dir holds the topics and group offsets. Required.
	Dir string

	// AdvertisedAddr is the host:port clients are told to connect to in Metadata.
	// Default: the address of the listener given to Serve.
	AdvertisedAddr string

	// MaxRequestBytes bounds a request frame; a bigger frame closes the connection
	// (Kafka's socket.request.max.bytes). Default 100 MiB.
	MaxRequestBytes int32

	// MessageMaxBytes bounds the records of one partition in a Produce request, after
	// which the partition is answered MESSAGE_TOO_LARGE (Kafka's message.max.bytes).
	// Default 1 MiB + 12 bytes, as Kafka's.
	MessageMaxBytes int32

	// MaxInFlight bounds the requests of one connection that are read but not yet
	// answered. Default 16.
	MaxInFlight int
	// MaxConnBytes bounds the bytes of requests one connection has read but not yet
	// answered; the reader stops reading until answers free some. A single request
	// may still be as big as MaxRequestBytes. Default twice MaxRequestBytes, at
	// most 128 MiB.
	MaxConnBytes int64
	// FetchMaxBytes caps the response size a Fetch may ask for (Kafka's
	// fetch.max.bytes). Default 55 MiB, as Kafka's.
	FetchMaxBytes int32

	// AutoCreateTopics creates a topic with DefaultPartitions partitions when a client
	// asks for metadata of, or produces to, a topic that does not exist. Default off.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics with -1 partitions. Default 1.
	DefaultPartitions int32
	// MaxPartitions bounds the partitions of one topic. Default 1000.
	MaxPartitions int32

	// FlushInterval syncs every partition with unsynced records at least this often.
	// Default 1s. Produce with acks=all syncs before answering regardless.
	FlushInterval time.Duration
	// FlushMessages syncs a partition once it holds this many unsynced records.
	// Default 0 (off).
	FlushMessages int64

	// Log holds the defaults of new partitions' logs (segment size and age,
	// retention, index interval); topic configs override them.
	Log plog.Config
	// RetentionCheck is how often retention runs. Default 1 minute.
	RetentionCheck time.Duration

	// GroupMinSession and GroupMaxSession bound the session timeouts consumers ask for.
	// Defaults 6s and 30 minutes, as Kafka's. GroupInitialDelay is how long a new
	// group waits for more members before its first rebalance completes. Default 0.
	GroupMinSession, GroupMaxSession, GroupInitialDelay time.Duration

	// Registry receives the broker's metrics. Nil means none are exported.
	Registry *prometheus.Registry
	// Logger receives the broker's log lines. Nil discards them.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Dir == "" {
		return errors.New("broker: Config.Dir is required")
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.MessageMaxBytes == 0 {
		c.MessageMaxBytes = 1<<20 + 12
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 16
	}
	if c.MaxConnBytes == 0 {
		c.MaxConnBytes = min(2*int64(c.MaxRequestBytes), 128<<20)
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 55 << 20
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.MaxPartitions == 0 {
		c.MaxPartitions = 1000
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.RetentionCheck == 0 {
		c.RetentionCheck = time.Minute
	}
	if c.GroupMinSession == 0 {
		c.GroupMinSession = 6 * time.Second
	}
	if c.GroupMaxSession == 0 {
		c.GroupMaxSession = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("broker: MaxRequestBytes %d is below 1024", c.MaxRequestBytes)
	case c.MessageMaxBytes < 128 || c.MessageMaxBytes > c.MaxRequestBytes:
		return fmt.Errorf("broker: MessageMaxBytes %d must lie in [128, MaxRequestBytes]", c.MessageMaxBytes)
	case c.MaxConnBytes < 1, c.FetchMaxBytes < 1:
		return errors.New("broker: MaxConnBytes and FetchMaxBytes must be positive")
	case c.MaxInFlight < 1:
		return fmt.Errorf("broker: MaxInFlight %d must be positive", c.MaxInFlight)
	case c.DefaultPartitions < 1 || c.DefaultPartitions > c.MaxPartitions:
		return fmt.Errorf("broker: DefaultPartitions %d must lie in [1, %d]", c.DefaultPartitions, c.MaxPartitions)
	case c.FlushInterval < 0, c.FlushMessages < 0, c.RetentionCheck < 0:
		return errors.New("broker: FlushInterval, FlushMessages and RetentionCheck must not be negative")
	case c.GroupMinSession > c.GroupMaxSession:
		return errors.New("broker: GroupMinSession exceeds GroupMaxSession")
	}
	return nil
}
