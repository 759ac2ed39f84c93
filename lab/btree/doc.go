// Package btree is a classic B-tree (Bayer and McCreight, 1972), written for the lab to set
// beside store's B+tree: every node, internal or leaf, holds whole entries (key and value),
// so a lookup may end at any level, and a range scan is an in-order traversal that climbs
// back into the internal nodes between leaves. A B+tree keeps values only in its leaves and
// links them, so its internal nodes hold only separators and child pointers.
//
// The tree lives in memory, but every node is a page by arithmetic: a node holds what a page
// of PageSize bytes could hold in store/page's format, and a node that outgrows its page
// splits. The layout counted (see Tree.PageSize and cellSize) is store/page's: a 32-byte
// header; per entry a 2-byte slot and a cell of flags (1), key length (2), value length (4),
// key and value; in internal nodes also a 4-byte child page number per entry (the leftmost
// child's goes in the header, as in store's branch pages). An entry's cell, child pointer
// included, may take at most a quarter of the page's cell space, the point past which store
// moves a value to overflow pages; this tree has no overflow pages, so Put refuses larger
// entries (ErrTooLarge).
//
// Reads count the pages they touch: Get the nodes on its path, Scan the nodes its traversal
// enters, both as distinct pages (a cursor that keeps its path in memory) and as visits (a
// cursor that holds one page, so each return to a parent reads it again). Insertion splits
// a full node at the byte midpoint and moves the middle entry up, a new root when the root
// splits. There is no delete: the lab's workloads only load and read.
package btree
