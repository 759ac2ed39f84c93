// Package page is the on-disk format of one database page: a fixed-size block (4 KiB by
// default) that starts with a 32-byte header and holds a meta record, a B+tree node, a
// piece of an overflow value, or a link in the free list.
//
//	0       1       2       4        8                16      20      24      28      32
//	+-------+-------+-------+--------+----------------+-------+-------+-------+-------+
//	| type  | flags | count | crc32c |      lsn       | pgno  | next  | prev  |  aux  |
//	+-------+-------+-------+--------+----------------+-------+-------+-------+-------+
//	| slot[0] slot[1] ... slot[count-1] -->      free      <-- cell[count-1] ... cell[0] |
//	+-----------------------------------------------------------------------------------+
//
// crc32c (Castagnoli) covers the whole page but its own four bytes; lsn is the log sequence
// number of the write-ahead-log frame that last wrote the page; pgno is the page's own
// number, so that a page written to the wrong place is caught. A slot is the 16-bit offset
// of its cell. Cells by page type:
//
//	leaf:     flags(1) klen(2) vlen(4) key value            value inline
//	          flags(1) klen(2) vlen(4) key firstpage(4)     flags&1: value in overflow pages
//	branch:   child(4) klen(2) key                          aux = leftmost child
//	overflow: aux = bytes of value data in this page, next = following overflow page
//	free:     next = following free page
//	meta:     magic "GANTRYDB", version, page size, root, page count, free list, next
//	          bucket, commit count, database id (page 0 only)
//
// Leaves are linked both ways through next and prev. Decode checks the checksum and every
// offset, so a damaged page yields an error naming its number, never a panic or its bytes.
package page
