package blocklist

// ListNameRule says which list names ValidListName accepts.
const ListNameRule = "use at most 32 letters, digits, '_', '-' and '.' (it appears in metrics and HAProxy variables)"

// ValidListName reports whether s may name a list: it is written into metric labels and
// HAProxy variables unquoted, so only a conservative set of characters is allowed.
func ValidListName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}
