package roadmap

// topics returns the roadmap, one entry per numbered line of ROADMAP.md, in its order.
// It builds a fresh slice on each call, so no caller can change another's copy.
//
// To change a topic's status, edit its Status (and Note or Reason) here; the tests check
// that a done or partial topic's Home exists and has tests.
func topics() []Topic {
	return []Topic{
		// Topics that is necessary for a Backend Engineer.
		{
			ID: "api", Title: "API", Section: Necessary,
			Summary: "A service's contract with its clients: resources, pagination, idempotency keys, rate limits.",
			Home:    "app", Experiment: "sync-vs-async-api",
			Status: Planned,
		},
		{
			ID: "proxies", Title: "Proxies", Section: Necessary,
			Summary: "A middleman for traffic: forward (CONNECT) on behalf of clients, reverse in front of servers.",
			Home:    "proxy", Experiment: "forward-vs-reverse",
			Status: Planned,
		},
		{
			ID: "load-balancer", Title: "Load Balancer", Section: Necessary,
			Summary: "Spreads requests over backends by a policy and routes around the ones that fail.",
			Home:    "balance", Experiment: "balancer-policies",
			Status: Planned,
		},
		{
			ID: "database-and-caching", Title: "Database & Caching", Section: Necessary,
			Summary: "Durable storage behind a fast cache, and the patterns that keep the two in step.",
			Home:    "store", Experiment: "cache-patterns",
			Status: Planned,
		},
		{
			ID: "cdn", Title: "Content Delivery Network", Section: Necessary,
			Summary: "Caching edges close to users that take load and distance off the origin.",
			Home:    "edge", Experiment: "edge-hit-ratio",
			Status: Planned,
		},
		{
			ID: "programming-language", Title: "Programming Language", Section: Necessary,
			Summary: "Gantry is written in Go: goroutines, channels and the standard library throughout.",
			Home:    "cmd/gantry", Experiment: "goroutine-costs",
			Status: Partial,
			Note:   "every package is Go; the goroutines vs threads vs processes experiment is not built",
		},

		// Backend Engineering (Beginner).
		{
			ID: "osi-model", Title: "OSI Model", Section: Beginner,
			Summary: "The seven-layer model, seen by following one request's bytes through the stack.",
			Home:    "lab", Experiment: "osi-layers",
			Status: Planned,
		},
		{
			ID: "tcp-vs-udp", Title: "Transmission Control Protocol vs User Datagram Protocol", Section: Beginner,
			Summary: "Reliable ordered byte streams against bare datagrams, and what each costs under loss.",
			Home:    "l4", Experiment: "loss-reordering",
			Status: Planned,
		},
		{
			ID: "http-versions", Title: "Hyper Text Transfer Protocol 1.0, 1.1, 2, 3", Section: Beginner,
			Summary: "HTTP's steps: connection reuse, then multiplexed streams, then QUIC against head-of-line blocking.",
			Home:    "proxy", Experiment: "head-of-line",
			Status: Planned,
		},
		{
			ID: "web-servers", Title: "Web Servers", Section: Beginner,
			Summary: "Accepting connections and serving requests and files; thread per connection against an event loop.",
			Home:    "proxy", Experiment: "server-models",
			Status: Planned,
		},
		{
			ID: "encryption", Title: "Symmetrical & Assymetrical Encryption", Section: Beginner,
			Summary: "Shared-key ciphers for bulk data, key pairs for identity and key exchange, and their costs.",
			Home:    "lab", Experiment: "crypto-costs",
			Status: Planned,
		},
		{
			ID: "tls", Title: "Transport Layer Security", Section: Beginner,
			Summary: "Encrypted, authenticated connections: SNI, ALPN, TLS 1.3 and session resumption.",
			Home:    "proxy", Experiment: "tls-handshake",
			Status: Planned,
		},
		{
			ID: "nat", Title: "Network Adderess Translation", Section: Beginner,
			Summary: "Rewriting addresses and ports at a network boundary, remembered in a session table.",
			Home:    "l4", Experiment: "nat-table",
			Status: Planned,
		},
		{
			ID: "proxy-vs-reverse-proxy", Title: "Proxy vs Reverse Proxy", Section: Beginner,
			Summary: "Whom the middleman works for: the clients behind it, or the servers it fronts.",
			Home:    "proxy",
			Status:  Planned,
		},
		{
			ID: "acid", Title: "Relational Database ACID Transaction", Section: Beginner,
			Summary: "Atomic, consistent, isolated, durable transactions, checked by killing the process mid-write.",
			Home:    "store", Experiment: "acid-kill",
			Status: Planned,
		},
		{
			ID: "btree-vs-bplustree", Title: "B- tree vs B+ tree in Production Database System", Section: Beginner,
			Summary: "Why databases keep values only in linked leaves: fewer page reads, above all for ranges.",
			Home:    "store/btree", Experiment: "btree-pages",
			Status: Planned,
		},
		{
			ID: "pubsub", Title: "Publish-Subscribe Architecture", Section: Beginner,
			Summary: "Publishers send to a topic rather than to receivers; every subscriber gets its own copy.",
			Home:    "broker", Experiment: "pubsub-fanout",
			Status: Planned,
		},
		{
			ID: "concurrency-models", Title: "Asynchronous vs Multithreading and Multiprocessing Programming", Section: Beginner,
			Summary: "One job done with an event loop, with threads and with processes, and what each costs.",
			Home:    "lab", Experiment: "concurrency-models",
			Status: Planned,
		},
		{
			ID: "sync-vs-async-app", Title: "Synchronous vs Asynchronous Application", Section: Beginner,
			Summary: "Answering within the request against accepting the work and reporting its result later.",
			Home:    "app",
			Status:  Planned,
		},
		{
			ID: "how-google-works", Title: "How google works?", Section: Beginner,
			Summary: "A search engine in small: a crawler, an inverted index and PageRank over a local corpus.",
			Home:    "search",
			Status:  Planned,
		},
		{
			ID: "database-indexing", Title: "Database Indexing", Section: Beginner,
			Summary: "Secondary structures that turn a full table scan into a few page reads.",
			Home:    "store", Experiment: "index-vs-scan",
			Status: Planned,
		},
		{
			ID: "xmpp", Title: "Extensible Messaging and Presence Protocol", Section: Beginner,
			Summary: "The XML-stream protocol for chat and presence, served so that real XMPP clients connect.",
			Home:    "chat",
			Status:  Planned,
		},
		{
			ID: "tail-latency", Title: "Percentile Tail Latency", Section: Beginner,
			Summary: "Why the p99 rules when a request fans out to many backends, and how hedging cuts it.",
			Home:    "stats", Experiment: "tail-latency",
			Status: Planned,
		},
		{
			ID: "sse-load-balancing", Title: "Load Balancing Server-Sent Events (SSE)", Section: Beginner,
			Summary: "Balancing long-lived event streams, where a count of requests says little about load.",
			Home:    "proxy", Experiment: "stream-rebalance",
			Status: Planned,
		},
		{
			ID: "sync-async-workloads", Title: "Synchronous & Asynchronous Workloads", Section: Beginner,
			Summary: "Doing the work inside the request against handing it to a queue and a pool of workers.",
			Home:    "broker",
			Status:  Planned,
		},

		// Backend Engineering (Intermediate).
		{
			ID: "tcp-handshake", Title: "TCP 3-way Handshake", Section: Intermediate,
			Summary: "SYN, SYN-ACK, ACK: the round trip each new connection pays, and how reuse avoids it.",
			Home:    "proxy", Experiment: "connection-cost",
			Status: Planned,
		},
		{
			ID: "l4-vs-l7-proxies", Title: "Layer 4 vs Layer 7 Proxies", Section: Intermediate,
			Summary: "A proxy that sees only connections and bytes against one that reads every request.",
			Home:    "l4", Experiment: "l4-vs-l7",
			Status: Planned,
		},
		{
			ID: "database-engines", Title: "Database Engines", Section: Intermediate,
			Summary: "The storage layer under a database: a B+tree engine beside an LSM engine, compared.",
			Home:    "store", Experiment: "engine-amplification",
			Status: Planned,
		},
		{
			ID: "l4-vs-l7-balancing", Title: "Load Balancing in Layer 4 vs Layer 7", Section: Intermediate,
			Summary: "Balancing whole connections against balancing each request by what it asks for.",
			Home:    "proxy", Experiment: "l4-vs-l7",
			Status: Planned,
		},
		{
			ID: "nginx", Title: "Nginx", Section: Intermediate,
			Summary: "The event-driven web server and proxy that Gantry's proxy is benchmarked against.",
			Home:    "bench",
			Status:  Planned,
		},
		{
			ID: "haproxy", Title: "HAProxy", Section: Intermediate,
			Summary: "The load balancer that Gantry's proxy is benchmarked and compared against, feature by feature.",
			Home:    "bench",
			Status:  Planned,
		},
		{
			ID: "virtual-ip", Title: "Virtual IP Addresses", Section: Intermediate,
			Summary: "An address that moves between machines, so clients keep one address through a failover.",
			Home:    "lab", Experiment: "vip-failover",
			Status: Planned,
		},
		{
			ID: "failover-ha", Title: "Fail-over and High-Availability", Section: Intermediate,
			Summary: "Noticing that a node died and moving its work elsewhere, measured as time to recover.",
			Home:    "health", Experiment: "recovery-time",
			Status: Planned,
		},
		{
			ID: "active-active-passive", Title: "Active-Active to Active-Passive Cluster", Section: Intermediate,
			Summary: "Every node serving at once against a standby that waits to take over.",
			Home:    "proxy",
			Status:  Planned,
		},
		{
			ID: "connection-pooling", Title: "Connection Pooling", Section: Intermediate,
			Summary: "Keeping connections to upstreams open for reuse instead of dialling one per request.",
			Home:    "proxy", Experiment: "pooled-vs-unpooled",
			Status: Planned,
		},
		{
			ID: "hv-partitioning", Title: "Horitzontal vs Vertical Database Partioning", Section: Intermediate,
			Summary: "Splitting a table by rows against splitting it by columns.",
			Home:    "store",
			Status:  Planned,
		},
		{
			ID: "database-partitioning", Title: "Database Partioning", Section: Intermediate,
			Summary: "Cutting one large table into parts that are stored, scanned and dropped on their own.",
			Home:    "store",
			Status:  Planned,
		},
		{
			ID: "database-sharding", Title: "Database Sharding", Section: Intermediate,
			Summary: "Spreading data over nodes by a shard key, and moving it when nodes come and go.",
			Home:    "cluster", Experiment: "resharding",
			Status: Planned,
		},
		{
			ID: "eventual-consistency", Title: "Eventual Consistency in Relational Database", Section: Intermediate,
			Summary: "Replicas that lag behind and then converge, and what a reader sees in between.",
			Home:    "store", Experiment: "stale-reads",
			Status: Planned,
		},
		{
			ID: "double-booking", Title: "Avoid Double Booking and Race Conditions", Section: Intermediate,
			Summary: "Two buyers and one seat: the constraints and locks that stop the race.",
			Home:    "app", Experiment: "double-booking",
			Status: Planned,
		},
		{
			ID: "rabbitmq", Title: "RabbitMQ", Section: Intermediate,
			Summary: "Queue semantics: exchanges, acknowledgements, prefetch and dead letters.",
			Home:    "broker",
			Status:  Planned,
		},
		{
			ID: "kafka", Title: "Apache Kafka", Section: Intermediate,
			Summary: "A partitioned append-only log served over the Kafka protocol, so Kafka clients work unchanged.",
			Home:    "broker",
			Status:  Planned,
		},
		{
			ID: "microservices", Title: "Microservices", Section: Intermediate,
			Summary: "One application split into services that talk over the network, and what that costs.",
			Home:    "app", Experiment: "monolith-vs-services",
			Status: Planned,
		},
		{
			ID: "devtools-waterfall", Title: "DevTools Waterfall", Section: Intermediate,
			Summary: "Where a request's time goes, phase by phase, from tracing and Server-Timing headers.",
			Home:    "proxy",
			Status:  Planned,
		},
		{
			ID: "stateless-vs-stateful", Title: "Stateless vs Stateful Backends", Section: Intermediate,
			Summary: "Backends any instance can serve against ones that need the same client each time.",
			Home:    "app",
			Status:  Planned,
		},
		{
			ID: "index-only-scan", Title: "Index Scan vs Index Only Scan", Section: Intermediate,
			Summary: "Answering from the index alone against going back to the table for every row.",
			Home:    "store", Experiment: "index-only-scan",
			Status: Planned,
		},
		{
			ID: "traefik", Title: "Traefik", Section: Intermediate,
			Summary: "The configuration-driven edge proxy whose features Gantry's proxy is compared with.",
			Home:    "bench",
			Status:  Planned,
		},
		{
			ID: "envoy", Title: "Envoy Proxy", Section: Intermediate,
			Summary: "The service-mesh proxy whose features Gantry's proxy is compared with.",
			Home:    "bench",
			Status:  Planned,
		},
		{
			ID: "cqrs", Title: "CQRS", Section: Intermediate,
			Summary: "Separate models for writes and reads, the read side built from the write side's events.",
			Home:    "app",
			Status:  Planned,
		},
		{
			ID: "long-polling", Title: "Long Polling", Section: Intermediate,
			Summary: "Holding a request open until there is news, compared with SSE and WebSockets.",
			Home:    "broker", Experiment: "push-styles",
			Status: Planned,
		},
		{
			ID: "concurrency-control", Title: "Optimistic vs Pessimistic Concurrency Control", Section: Intermediate,
			Summary: "Checking for conflicts at commit against locking up front, as contention grows.",
			Home:    "store", Experiment: "occ-vs-pcc",
			Status: Planned,
		},

		// Backend Engineering (Advanced).
		{
			ID: "database-replication", Title: "Database Replication", Section: Advanced,
			Summary: "Shipping the write-ahead log to replicas, synchronously or not, and what a failover loses.",
			Home:    "store", Experiment: "failover-loss",
			Status: Planned,
		},
		{
			ID: "database-cursors", Title: "Database Cursors", Section: Advanced,
			Summary: "Walking a large result step by step on the server instead of loading it all in the client.",
			Home:    "store", Experiment: "cursor-memory",
			Status: Planned,
		},
		{
			ID: "distributed-transactions", Title: "Distributed Transaction in Microservices", Section: Advanced,
			Summary: "Keeping several services consistent: two-phase commit, sagas and the outbox.",
			Home:    "cluster",
			Status:  Planned,
		},
		{
			ID: "key-vs-nonkey-columns", Title: "Key vs Non-Key Column Database", Section: Advanced,
			Summary: "Columns an index is ordered by against columns it only carries along (INCLUDE).",
			Home:    "store",
			Status:  Planned,
		},
		{
			ID: "webrtc", Title: "WebRTC", Section: Advanced,
			Summary: "Peer-to-peer media and data between browsers: signalling, STUN and NAT traversal.",
			Home:    "rtc",
			Status:  Planned,
		},
		{
			ID: "iptables", Title: "IP Tables", Section: Advanced,
			Summary: "Linux packet filtering and address rewriting, tried out in network namespaces.",
			Home:    "lab", Experiment: "iptables",
			Status: Planned,
		},
		{
			ID: "amplification", Title: "Amplification in Backend", Section: Advanced,
			Summary: "One request turning into many through retries and fan-out, and budgets that bound it.",
			Home:    "proxy", Experiment: "retry-storms",
			Status: Planned,
		},
		{
			ID: "microsoft-iis", Title: "Microsoft IIS", Section: Advanced,
			Summary: "Microsoft's web server, built into Windows Server.",
			Status:  NotApplicable,
			Reason:  "Windows-only server, and Gantry runs on Linux; the web-server role is proxy/ (see web-servers)",
		},

		// System Design.
		{
			ID: "scaling", Title: "Horizontal vs Vertical Scaling", Section: SystemDesign,
			Summary: "More machines against a bigger machine: throughput as instances are added.",
			Home:    "gantry up", Experiment: "scale-out",
			Status: Planned,
		},
		{
			ID: "load-balancing", Title: "Load Balancing", Section: SystemDesign,
			Summary: "Choosing a backend for each request or key so that load stays even.",
			Home:    "balance", Experiment: "balancer-policies",
			Status: Planned,
		},
		{
			ID: "consistent-hashing", Title: "Consistent Hashing", Section: SystemDesign,
			Summary: "Mapping keys to nodes so that only a small share of keys move when a node joins or leaves.",
			Home:    "balance", Experiment: "consistent-hashing",
			Status: Planned,
		},
		{
			ID: "message-queue", Title: "Message Queue", Section: SystemDesign,
			Summary: "A buffer between producers and consumers that decouples their pace and their failures.",
			Home:    "broker",
			Status:  Planned,
		},
		{
			ID: "microservice-arch", Title: "Microservice Architecture", Section: SystemDesign,
			Summary: "Drawing service boundaries, and running the same code as one process or as services.",
			Home:    "app", Experiment: "monolith-vs-services",
			Status: Planned,
		},
		{
			ID: "sharding-design", Title: "Database Sharding", Section: SystemDesign,
			Summary: "Choosing a shard key and a placement so that data and load grow past one machine.",
			Home:    "cluster", Experiment: "resharding",
			Status: Planned,
		},
		{
			ID: "distributed-caching", Title: "Distributed Caching", Section: SystemDesign,
			Summary: "A cache spread over nodes by consistent hashing, and its hit ratio as nodes change.",
			Home:    "cache", Experiment: "cache-resize",
			Status: Planned,
		},
		{
			ID: "api-design", Title: "API", Section: SystemDesign,
			Summary: "Designing the interface between a system and its clients so both can change.",
			Home:    "app",
			Status:  Planned,
		},
		{
			ID: "capacity-planning", Title: "Capacity Planning and Estimation", Section: SystemDesign,
			Summary: "Estimating machines, memory and bandwidth from expected load and measured costs.",
			Home:    "gantry capacity",
			Status:  Planned,
		},
		{
			ID: "pubsub-model", Title: "Publisher Subscriber Model", Section: SystemDesign,
			Summary: "Topics and subscriptions as the way services announce change to whoever cares.",
			Home:    "broker",
			Status:  Planned,
		},
		{
			ID: "why-databases-fail", Title: "Why Do Database Fail?", Section: SystemDesign,
			Summary: "Crashes, torn writes, full disks and overload, found by injecting each fault.",
			Home:    "store",
			Status:  Planned,
		},
		{
			ID: "cdn-design", Title: "Content Delivery Network", Section: SystemDesign,
			Summary: "Where to place edges and shields, and how TTLs trade freshness for origin load.",
			Home:    "edge", Experiment: "edge-hit-ratio",
			Status: Planned,
		},
		{
			ID: "single-point-of-failure", Title: "Single Point of Failure", Section: SystemDesign,
			Summary: "A component whose loss stops the system, found by killing each one in turn.",
			Home:    "gantry up",
			Status:  Planned,
		},
		{
			ID: "event-driven", Title: "Event Driven System", Section: SystemDesign,
			Summary: "Services that react to events instead of calling each other directly.",
			Home:    "broker",
			Status:  Planned,
		},
		{
			ID: "nosql", Title: "NoSQL Databases", Section: SystemDesign,
			Summary: "Key-value and data-structure stores that drop the relational model for speed or scale.",
			Home:    "cache",
			Status:  Planned,
		},
		{
			ID: "database-scaling", Title: "How Database Scales?", Section: SystemDesign,
			Summary: "Replicas, caches, partitions and shards, in the order one reaches for them.",
			Home:    "cluster",
			Status:  Planned,
		},
		{
			ID: "service-discovery", Title: "Service Discovery & Heartbeats in Microservices", Section: SystemDesign,
			Summary: "Finding the live instances of a service and noticing dead ones by missed heartbeats.",
			Home:    "discovery", Experiment: "heartbeat-detection",
			Status: Planned,
		},
		{
			ID: "consensus", Title: "Distributed Consensus", Section: SystemDesign,
			Summary: "Nodes agreeing on one ordered log despite failures, with Raft.",
			Home:    "cluster", Experiment: "leader-loss",
			Status: Planned,
		},
		{
			ID: "data-replication", Title: "Data Replication", Section: SystemDesign,
			Summary: "Copies on several nodes for durability and read capacity; lag and conflicts.",
			Home:    "store",
			Status:  Planned,
		},
		{
			ID: "cascading-failures", Title: "Avoid Cascading Failures in Microservices", Section: SystemDesign,
			Summary: "Breakers, timeouts and load shedding that stop one slow service taking down the rest.",
			Home:    "health",
			Status:  Planned,
		},
		{
			ID: "containers", Title: "Containers & Virtualisation", Section: SystemDesign,
			Summary: "Namespaces and cgroups, the kernel parts containers are made of, against virtual machines.",
			Home:    "lab", Experiment: "namespaces",
			Status: Planned,
		},
		{
			ID: "isolation-trees", Title: "Isolation Trees", Section: SystemDesign,
			Summary: "Isolation forests: spotting outliers in latency metrics by how few random splits isolate them.",
			Home:    "lab", Experiment: "latency-outliers",
			Status: Planned,
		},
		{
			ID: "monolith", Title: "Monolith", Section: SystemDesign,
			Summary: "The whole application in one deployable process, against the same code split into services.",
			Home:    "app", Experiment: "monolith-vs-services",
			Status: Planned,
		},
	}
}
