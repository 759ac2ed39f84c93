package cache

// The HELP subcommands answer, as Redis does, an array of status lines: a usage
// line, then each subcommand with its arguments and, indented, what it does. The
// text is gantry's own and lists only what gantry implements.

var clientHelp = []string{
	"CLIENT <subcommand> [<arg> ...]. The subcommands gantry has:",
	"ID",
	"    The id of this connection (a number that is never reused).",
	"GETNAME",
	"    The name given to this connection with SETNAME, or null.",
	"SETNAME <name>",
	"    Names this connection; the name has no spaces, and \"\" removes it.",
	"SETINFO (LIB-NAME|LIB-VER) <value>",
	"    Records the client library's name or version, shown by LIST and INFO.",
	"INFO",
	"    This connection, as one line of LIST.",
	"LIST [TYPE (NORMAL|PUBSUB|MASTER|REPLICA)] [ID <id> [<id> ...]]",
	"    One line per connection, of a type or with the ids given.",
	"    The buffer fields (qbuf, omem, ...) are always 0 in gantry.",
	"KILL <ip:port>",
	"    Closes the connection from <ip:port>.",
	"KILL [ID <id>] [ADDR <ip:port>] [LADDR <ip:port>] [SKIPME (YES|NO)]",
	"    Closes every connection that matches all the filters given and answers",
	"    how many; SKIPME YES (the default) spares this connection.",
	"HELP",
	"    This text.",
}

var configHelp = []string{
	"CONFIG <subcommand> [<arg> ...]. The subcommands gantry has:",
	"GET <pattern> [<pattern> ...]",
	"    Each parameter a name or glob pattern names, with its value. Some are",
	"    built into gantry and only shown (hz, maxmemory-samples, the encoding",
	"    sizes); Redis's other parameters are not there.",
	"SET <parameter> <value> [<parameter> <value> ...]",
	"    Changes parameters while the server runs: maxmemory, maxmemory-policy,",
	"    requirepass, timeout, maxclients, appendonly, appendfsync,",
	"    client-output-buffer-limit, and save \"\". All or none are set.",
	"RESETSTAT",
	"    Sets the statistics of INFO (commands, hits, misses, ...) back to zero.",
	"REWRITE",
	"    Answers an error: gantry does not write its configuration file.",
	"HELP",
	"    This text.",
}

var commandHelp = []string{
	"COMMAND [<subcommand> [<arg> ...]]. The subcommands gantry has:",
	"(no subcommand)",
	"    Every command gantry has, as INFO describes it.",
	"COUNT",
	"    How many commands gantry has.",
	"LIST [FILTERBY (MODULE <module>|PATTERN <pattern>)]",
	"    The names of the commands, or of those a pattern matches.",
	"INFO [<command> ...]",
	"    Name, arity, flags and key positions of each command named (of all",
	"    when none is), null for a command gantry does not have.",
	"DOCS [<command> ...]",
	"    An empty map: gantry keeps no command documentation.",
	"GETKEYS <command> [<arg> ...]",
	"    The keys a command with these arguments would use.",
	"HELP",
	"    This text.",
}

var objectHelp = []string{
	"OBJECT <subcommand> <key>. The subcommands gantry has:",
	"ENCODING <key>",
	"    The name Redis 7.0 gives the representation of a value like the key's",
	"    (int, embstr, raw, quicklist, listpack, hashtable, intset, skiplist).",
	"FREQ <key>",
	"    The key's logarithmic access counter, with an LFU maxmemory-policy.",
	"IDLETIME <key>",
	"    Seconds since the key was last used, without an LFU maxmemory-policy.",
	"REFCOUNT <key>",
	"    How many references Redis would hold to the value.",
	"HELP",
	"    This text.",
}

var pubsubHelp = []string{
	"PUBSUB <subcommand> [<arg> ...]. The subcommands gantry has:",
	"CHANNELS [<pattern>]",
	"    The channels with at least one subscriber, those a pattern matches.",
	"NUMSUB [<channel> ...]",
	"    Each channel with its number of subscribers (not counting patterns).",
	"NUMPAT",
	"    How many pattern subscriptions there are, over all clients.",
	"HELP",
	"    This text.",
}

// helpReply writes lines as Redis's HELP replies are written: an array of status
// lines, in RESP2 and RESP3 alike.
func (c *client) helpReply(lines []string) {
	c.w.Array(len(lines))
	for _, l := range lines {
		c.w.Status(l)
	}
}

func cmdClientHelp(c *client, args [][]byte)  { c.helpReply(clientHelp) }
func cmdConfigHelp(c *client, args [][]byte)  { c.helpReply(configHelp) }
func cmdCommandHelp(c *client, args [][]byte) { c.helpReply(commandHelp) }
func cmdObjectHelp(c *client, args [][]byte)  { c.helpReply(objectHelp) }
func cmdPubsubHelp(c *client, args [][]byte)  { c.helpReply(pubsubHelp) }
