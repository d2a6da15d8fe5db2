package geoip

import "fmt"

// checkTree refuses a search tree that is not a tree. The reader walks every path of the
// tree without remembering the nodes it has seen, so a damaged or hostile database whose
// nodes point to one node from two parents, chained a few dozen times, is a walk of 2^n
// paths: Verify and Networks would run for years. Each node must be reached once, but for
// the IPv4 subtree's root (the node at ::/96 of an IPv6 tree), which the aliases
// ::ffff:0:0/96, 2001::/32 and 2002::/16 point at from outside that subtree and which the
// reader walks once.
//
// tree is the search tree (nodeCount nodes of recordSize*2 bits); the caller has checked that
// it lies within the database.
func checkTree(tree []byte, nodeCount, recordSize, ipVersion uint) error {
	if recordSize != 24 && recordSize != 28 && recordSize != 32 {
		return fmt.Errorf("record size %d: want 24, 28 or 32", recordSize)
	}
	if nodeCount == 0 {
		return nil
	}
	if uint(len(tree)) < nodeCount*recordSize/4 {
		return fmt.Errorf("a search tree of %d nodes in %d bytes", nodeCount, len(tree))
	}
	bits := uint(128)
	if ipVersion == 4 {
		bits = 32
	}
	// The IPv4 subtree's root, found as the reader finds it: 96 left turns from the root.
	ipv4Root := nodeCount // none
	if ipVersion == 6 {
		p := uint(0)
		for i := 0; i < 96 && p < nodeCount; i++ {
			p, _ = node(tree, p, recordSize)
		}
		ipv4Root = p
	}
	type step struct {
		node, depth uint
		inIPv4      bool // below the IPv4 subtree's root, reached by the all-zero path
	}
	seen := make([]uint64, (nodeCount+63)/64)
	stack := []step{{0, 0, false}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.node >= nodeCount {
			continue // no data, or a record
		}
		if seen[s.node/64]&(1<<(s.node%64)) != 0 {
			if s.node == ipv4Root && !s.inIPv4 {
				continue // an alias
			}
			return fmt.Errorf("search tree node %d is reached from two parents: not a tree", s.node)
		}
		seen[s.node/64] |= 1 << (s.node % 64)
		if s.depth >= bits {
			return fmt.Errorf("search tree node %d is deeper than %d bits", s.node, bits)
		}
		in4 := s.inIPv4 || s.node == ipv4Root
		left, right := node(tree, s.node, recordSize)
		// Left last, so that the all-zero path, which leads to the IPv4 subtree's root, is
		// walked first and the root's first visit is that path's.
		stack = append(stack, step{right, s.depth + 1, in4}, step{left, s.depth + 1, in4})
	}
	return nil
}

// node reads the two records of node n. recordSize is 24, 28 or 32 and the node lies within
// tree.
func node(tree []byte, n, recordSize uint) (left, right uint) {
	b := tree[n*recordSize/4:]
	switch recordSize {
	case 24:
		return uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]), uint(b[3])<<16 | uint(b[4])<<8 | uint(b[5])
	case 28:
		return uint(b[3]&0xf0)<<20 | uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]),
			uint(b[3]&0x0f)<<24 | uint(b[4])<<16 | uint(b[5])<<8 | uint(b[6])
	}
	return uint(b[0])<<24 | uint(b[1])<<16 | uint(b[2])<<8 | uint(b[3]),
		uint(b[4])<<24 | uint(b[5])<<16 | uint(b[6])<<8 | uint(b[7])
}
