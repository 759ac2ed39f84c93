package resp

// splitInline splits an inline command line into arguments the way redis-cli and
// Redis's sdssplitargs do: separated by blanks, with "double quotes" that take
// \n \r \t \b \a \\ \" and \xHH escapes and 'single quotes' that take \'.
// The arguments are appended to dst. Unquoted arguments alias line; quoted ones are
// rewritten in place, which is safe because unescaping only shortens them.
func splitInline(line []byte, dst [][]byte) ([][]byte, error) {
	i := 0
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return dst, nil
		}
		start, out := i, i // out: where the unescaped argument is written
		inDouble, inSingle := false, false
		for {
			if i == len(line) {
				if inDouble || inSingle {
					return nil, &ProtocolError{"Protocol error: unbalanced quotes in request"}
				}
				break
			}
			c := line[i]
			switch {
			case inDouble:
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					line[out] = hexVal(line[i+2])<<4 | hexVal(line[i+3])
					out++
					i += 4
					continue
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					default:
						c = line[i]
					}
				case c == '"':
					// A closing quote must be followed by a blank or the end.
					if i+1 < len(line) && !isBlank(line[i+1]) {
						return nil, &ProtocolError{"Protocol error: unbalanced quotes in request"}
					}
					inDouble = false
					i++
					goto done
				}
			case inSingle:
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					c = '\''
				case c == '\'':
					if i+1 < len(line) && !isBlank(line[i+1]) {
						return nil, &ProtocolError{"Protocol error: unbalanced quotes in request"}
					}
					inSingle = false
					i++
					goto done
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					goto done
				case '"':
					inDouble = true
					i++
					continue
				case '\'':
					inSingle = true
					i++
					continue
				}
			}
			line[out] = c
			out++
			i++
		}
	done:
		dst = append(dst, line[start:out:out])
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0 }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
