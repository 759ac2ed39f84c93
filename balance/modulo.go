package balance

// Modulo is the naive baseline: node number hash(key) mod N. It spreads keys evenly, but
// when N changes almost every key moves (N/(N+1) of them when a node joins), which is what
// the consistent hashes exist to avoid.
type Modulo struct {
	nodes []string
}

// NewModulo returns a Modulo over nodes, in their order.
func NewModulo(nodes []string) *Modulo {
	return &Modulo{nodes: append([]string(nil), nodes...)}
}

// Get implements Hash.
func (m *Modulo) Get(key string) string {
	if len(m.nodes) == 0 {
		return ""
	}
	return m.nodes[Sum64(key)%uint64(len(m.nodes))]
}
