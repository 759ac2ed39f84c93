// Package broker is a single-node log broker that speaks Kafka's wire protocol: Kafka
// clients (franz-go, kcat, librdkafka, the Java client) produce to it and consume from
// it as they would from Kafka.
//
// The pieces, from the socket in:
//
//	conn.go      one goroutine reads frames (size-limited), decodes them with franz-go's
//	             kmsg and runs the handler; a second writes the answers in request order.
//	             An acks=all Produce's fsyncs start as soon as it is appended, and the
//	             writer waits for them (and for Fetch long polls), so that the fsyncs of
//	             pipelined produces overlap and share rather than queue behind the answers.
//	api*.go      the handlers: what the broker does for each API and version it offers.
//	topics.go    topics and partitions on disk: DIR/topics/NAME/{topic.json,0/,1/,...}.
//	partition.go one partition: its log (package broker/log), the producer sequence
//	             state of idempotent producers, and the waiters of long-polling fetches.
//	group/       the consumer group coordinator and its durable offsets.
//
// The request and response formats are kmsg's; the behaviour is ours. The broker is
// node 0 of a one-node cluster; leader epochs stay 0 and the partition leader is always
// this node, which leaves room for replication later.
package broker
