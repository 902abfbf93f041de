// SPDX-License-Identifier: GPL-2.0-only
//! lib/rbtree.c and include/linux/rbtree_augmented.h: the kernel's intrusive red-black tree,
//! with the augmented form that keeps a per-subtree value up to date through rotations.
//!
//! DOC: a `struct rb_node` is three words embedded in the structure it orders:
//! `__rb_parent_color` (the parent's address, with the colour in bit 0: 0 red, 1 black),
//! `rb_right` and `rb_left`. The caller walks down from `rb_root` to the link where a new
//! node belongs, links it there red (`rb_link_node`) and calls `rb_insert_color`, which
//! repaints and rotates until the red-black rules hold again. `rb_erase` unlinks a node,
//! putting its in-order successor in its place, and rebalances from where a black node went
//! missing. The augmented variants call three callbacks as they go, so that a value computed
//! from a node and its children (vmalloc's `subtree_max_size`) stays correct:
//! `propagate` recomputes it from a node up to a stop node, `copy` moves it to a node taking
//! another's place, and `rotate` fixes the two nodes a rotation swapped.
//!
//! bootmm's nodes live in simulated RAM, and their links hold kernel virtual addresses, as
//! the kernel's do; an [`RbMem`] turns such an address into the host pointer the code reads
//! and writes through. The algorithm is the kernel's, case for case.

/// `struct rb_node`, as it lies in simulated RAM.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RbNode {
    /// `__rb_parent_color`.
    pub parent_color: u64,
    /// `rb_right`.
    pub right: u64,
    /// `rb_left`.
    pub left: u64,
}

/// `RB_RED`.
const RB_RED: u64 = 0;
/// `RB_BLACK`.
const RB_BLACK: u64 = 1;

/// Where the nodes of one tree live: the host pointer of the `rb_node` at a kernel address.
pub trait RbMem {
    /// The host pointer of the `rb_node` at kernel address `node`.
    ///
    /// # Safety
    /// `node` is the non-zero address of a node of this tree.
    unsafe fn at(&self, node: u64) -> *mut RbNode;
}

/// `struct rb_augment_callbacks`.
pub trait Augment {
    /// `propagate(node, stop)`: recompute the value from `node` up to (not including) `stop`.
    ///
    /// # Safety
    /// `node` and the nodes above it are nodes of the tree.
    unsafe fn propagate(&self, node: u64, stop: u64);
    /// `copy(old, new)`: `new` takes `old`'s place; it takes its value.
    ///
    /// # Safety
    /// Both are nodes of the tree.
    unsafe fn copy(&self, old: u64, new: u64);
    /// `rotate(old, new)`: `new` became the parent of `old` in a rotation.
    ///
    /// # Safety
    /// Both are nodes of the tree.
    unsafe fn rotate(&self, old: u64, new: u64);
}

/// The callbacks of a tree that is not augmented (`dummy_callbacks` in lib/rbtree.c).
pub struct NoAugment;

impl Augment for NoAugment {
    #[inline(always)]
    unsafe fn propagate(&self, _: u64, _: u64) {}
    #[inline(always)]
    unsafe fn copy(&self, _: u64, _: u64) {}
    #[inline(always)]
    unsafe fn rotate(&self, _: u64, _: u64) {}
}

/// Where `rb_link_node` attaches a node: the root, or a side of a parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `&root->rb_node`.
    Root,
    /// `&parent->rb_left`.
    Left(u64),
    /// `&parent->rb_right`.
    Right(u64),
}

impl Link {
    /// The parent this link hangs from (0 for the root).
    pub fn parent(self) -> u64 {
        match self {
            Link::Root => 0,
            Link::Left(p) | Link::Right(p) => p,
        }
    }
}

/// `rb_parent(node)`.
///
/// # Safety
/// `node` is a node of `m`'s tree.
#[inline(always)]
pub unsafe fn rb_parent<M: RbMem>(m: &M, node: u64) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).parent_color & !3 }
}

/// `rb_left`.
///
/// # Safety
/// As [`rb_parent`].
#[inline(always)]
pub unsafe fn rb_left<M: RbMem>(m: &M, node: u64) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).left }
}

/// `rb_right`.
///
/// # Safety
/// As [`rb_parent`].
#[inline(always)]
pub unsafe fn rb_right<M: RbMem>(m: &M, node: u64) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).right }
}

#[inline(always)]
unsafe fn is_red<M: RbMem>(m: &M, node: u64) -> bool {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).parent_color & 1 == RB_RED }
}

#[inline(always)]
unsafe fn is_black<M: RbMem>(m: &M, node: u64) -> bool {
    // SAFETY: the caller's contract.
    unsafe { !is_red(m, node) }
}

#[inline(always)]
unsafe fn set_parent<M: RbMem>(m: &M, node: u64, p: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        let n = m.at(node);
        (*n).parent_color = ((*n).parent_color & 1) | p;
    }
}

#[inline(always)]
unsafe fn set_parent_color<M: RbMem>(m: &M, node: u64, p: u64, color: u64) {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).parent_color = p | color }
}

#[inline(always)]
unsafe fn set_left<M: RbMem>(m: &M, node: u64, v: u64) {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).left = v }
}

#[inline(always)]
unsafe fn set_right<M: RbMem>(m: &M, node: u64, v: u64) {
    // SAFETY: the caller's contract.
    unsafe { (*m.at(node)).right = v }
}

/// `__rb_change_child`.
#[inline(always)]
unsafe fn change_child<M: RbMem>(m: &M, old: u64, new: u64, parent: u64, root: &mut u64) {
    // SAFETY: the caller's contract: `parent`, when non-zero, is a node.
    unsafe {
        if parent != 0 {
            if rb_left(m, parent) == old {
                set_left(m, parent, new);
            } else {
                set_right(m, parent, new);
            }
        } else {
            *root = new;
        }
    }
}

/// `__rb_rotate_set_parents`: `new` takes `old`'s parent and colour; `old` hangs below `new`
/// in `color`.
#[inline(always)]
unsafe fn rotate_set_parents<M: RbMem>(m: &M, old: u64, new: u64, root: &mut u64, color: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        let parent = rb_parent(m, old);
        (*m.at(new)).parent_color = (*m.at(old)).parent_color;
        set_parent_color(m, old, new, color);
        change_child(m, old, new, parent, root);
    }
}

/// `rb_link_node(node, parent, link)`: attach `node`, red and childless, at `link`.
///
/// # Safety
/// `node` and the link's parent are nodes of `m`'s tree, and `link` is an empty link.
pub unsafe fn rb_link_node<M: RbMem>(m: &M, node: u64, link: Link, root: &mut u64) {
    // SAFETY: the caller's contract.
    unsafe {
        let n = m.at(node);
        (*n).parent_color = link.parent();
        (*n).left = 0;
        (*n).right = 0;
        match link {
            Link::Root => *root = node,
            Link::Left(p) => set_left(m, p, node),
            Link::Right(p) => set_right(m, p, node),
        }
    }
}

/// `__rb_insert`: rebalance after `node` was linked red.
///
/// # Safety
/// `node` was just linked into the tree at `root` with [`rb_link_node`].
pub unsafe fn rb_insert<M: RbMem, A: Augment>(m: &M, mut node: u64, root: &mut u64, aug: &A) {
    // SAFETY: every address below is a node of the tree, reached through its links.
    unsafe {
        let mut parent = rb_parent(m, node);
        loop {
            if parent == 0 {
                set_parent_color(m, node, 0, RB_BLACK);
                break;
            }
            if is_black(m, parent) {
                break;
            }
            let gparent = rb_parent(m, parent);
            let mut tmp = rb_right(m, gparent);
            if parent != tmp {
                // parent == gparent->rb_left
                if tmp != 0 && is_red(m, tmp) {
                    // Case 1: the uncle is red: colour flips.
                    set_parent_color(m, tmp, gparent, RB_BLACK);
                    set_parent_color(m, parent, gparent, RB_BLACK);
                    node = gparent;
                    parent = rb_parent(m, node);
                    set_parent_color(m, node, parent, RB_RED);
                    continue;
                }
                tmp = rb_right(m, parent);
                if node == tmp {
                    // Case 2: left rotate at parent.
                    tmp = rb_left(m, node);
                    set_right(m, parent, tmp);
                    set_left(m, node, parent);
                    if tmp != 0 {
                        set_parent_color(m, tmp, parent, RB_BLACK);
                    }
                    set_parent_color(m, parent, node, RB_RED);
                    aug.rotate(parent, node);
                    parent = node;
                    tmp = rb_right(m, node);
                }
                // Case 3: right rotate at gparent.
                set_left(m, gparent, tmp);
                set_right(m, parent, gparent);
                if tmp != 0 {
                    set_parent_color(m, tmp, gparent, RB_BLACK);
                }
                rotate_set_parents(m, gparent, parent, root, RB_RED);
                aug.rotate(gparent, parent);
                break;
            } else {
                tmp = rb_left(m, gparent);
                if tmp != 0 && is_red(m, tmp) {
                    // Case 1, mirrored.
                    set_parent_color(m, tmp, gparent, RB_BLACK);
                    set_parent_color(m, parent, gparent, RB_BLACK);
                    node = gparent;
                    parent = rb_parent(m, node);
                    set_parent_color(m, node, parent, RB_RED);
                    continue;
                }
                tmp = rb_left(m, parent);
                if node == tmp {
                    // Case 2: right rotate at parent.
                    tmp = rb_right(m, node);
                    set_left(m, parent, tmp);
                    set_right(m, node, parent);
                    if tmp != 0 {
                        set_parent_color(m, tmp, parent, RB_BLACK);
                    }
                    set_parent_color(m, parent, node, RB_RED);
                    aug.rotate(parent, node);
                    parent = node;
                    tmp = rb_left(m, node);
                }
                // Case 3: left rotate at gparent.
                set_right(m, gparent, tmp);
                set_left(m, parent, gparent);
                if tmp != 0 {
                    set_parent_color(m, tmp, gparent, RB_BLACK);
                }
                rotate_set_parents(m, gparent, parent, root, RB_RED);
                aug.rotate(gparent, parent);
                break;
            }
        }
    }
}

/// `____rb_erase_color`: restore the black heights after a black node left below `parent`.
unsafe fn erase_color<M: RbMem, A: Augment>(m: &M, mut parent: u64, root: &mut u64, aug: &A) {
    // SAFETY: as in `rb_insert`.
    unsafe {
        let mut node = 0u64;
        loop {
            let mut sibling = rb_right(m, parent);
            if node != sibling {
                // node == parent->rb_left
                if is_red(m, sibling) {
                    // Case 1: left rotate at parent.
                    let tmp1 = rb_left(m, sibling);
                    set_right(m, parent, tmp1);
                    set_left(m, sibling, parent);
                    set_parent_color(m, tmp1, parent, RB_BLACK);
                    rotate_set_parents(m, parent, sibling, root, RB_RED);
                    aug.rotate(parent, sibling);
                    sibling = tmp1;
                }
                let mut tmp1 = rb_right(m, sibling);
                if tmp1 == 0 || is_black(m, tmp1) {
                    let tmp2 = rb_left(m, sibling);
                    if tmp2 == 0 || is_black(m, tmp2) {
                        // Case 2: sibling colour flip.
                        set_parent_color(m, sibling, parent, RB_RED);
                        if is_red(m, parent) {
                            (*m.at(parent)).parent_color |= RB_BLACK;
                        } else {
                            node = parent;
                            parent = rb_parent(m, node);
                            if parent != 0 {
                                continue;
                            }
                        }
                        break;
                    }
                    // Case 3: right rotate at sibling.
                    tmp1 = rb_right(m, tmp2);
                    set_left(m, sibling, tmp1);
                    set_right(m, tmp2, sibling);
                    set_right(m, parent, tmp2);
                    if tmp1 != 0 {
                        set_parent_color(m, tmp1, sibling, RB_BLACK);
                    }
                    aug.rotate(sibling, tmp2);
                    tmp1 = sibling;
                    sibling = tmp2;
                }
                // Case 4: left rotate at parent, colour flips.
                let tmp2 = rb_left(m, sibling);
                set_right(m, parent, tmp2);
                set_left(m, sibling, parent);
                set_parent_color(m, tmp1, sibling, RB_BLACK);
                if tmp2 != 0 {
                    set_parent(m, tmp2, parent);
                }
                rotate_set_parents(m, parent, sibling, root, RB_BLACK);
                aug.rotate(parent, sibling);
                break;
            } else {
                sibling = rb_left(m, parent);
                if is_red(m, sibling) {
                    // Case 1: right rotate at parent.
                    let tmp1 = rb_right(m, sibling);
                    set_left(m, parent, tmp1);
                    set_right(m, sibling, parent);
                    set_parent_color(m, tmp1, parent, RB_BLACK);
                    rotate_set_parents(m, parent, sibling, root, RB_RED);
                    aug.rotate(parent, sibling);
                    sibling = tmp1;
                }
                let mut tmp1 = rb_left(m, sibling);
                if tmp1 == 0 || is_black(m, tmp1) {
                    let tmp2 = rb_right(m, sibling);
                    if tmp2 == 0 || is_black(m, tmp2) {
                        // Case 2: sibling colour flip.
                        set_parent_color(m, sibling, parent, RB_RED);
                        if is_red(m, parent) {
                            (*m.at(parent)).parent_color |= RB_BLACK;
                        } else {
                            node = parent;
                            parent = rb_parent(m, node);
                            if parent != 0 {
                                continue;
                            }
                        }
                        break;
                    }
                    // Case 3: left rotate at sibling.
                    tmp1 = rb_left(m, tmp2);
                    set_right(m, sibling, tmp1);
                    set_left(m, tmp2, sibling);
                    set_left(m, parent, tmp2);
                    if tmp1 != 0 {
                        set_parent_color(m, tmp1, sibling, RB_BLACK);
                    }
                    aug.rotate(sibling, tmp2);
                    tmp1 = sibling;
                    sibling = tmp2;
                }
                // Case 4: right rotate at parent, colour flips.
                let tmp2 = rb_right(m, sibling);
                set_left(m, parent, tmp2);
                set_right(m, sibling, parent);
                set_parent_color(m, tmp1, sibling, RB_BLACK);
                if tmp2 != 0 {
                    set_parent(m, tmp2, parent);
                }
                rotate_set_parents(m, parent, sibling, root, RB_BLACK);
                aug.rotate(parent, sibling);
                break;
            }
        }
    }
}

/// `rb_erase_augmented(node, root, augment)` (and, with [`NoAugment`], `rb_erase`).
///
/// # Safety
/// `node` is a node of the tree at `root`.
pub unsafe fn rb_erase<M: RbMem, A: Augment>(m: &M, node: u64, root: &mut u64, aug: &A) {
    // SAFETY: as in `rb_insert`.
    unsafe {
        let child = rb_right(m, node);
        let mut tmp = rb_left(m, node);
        let rebalance;
        if tmp == 0 {
            // Case 1: at most one child (the right one).
            let pc = (*m.at(node)).parent_color;
            let parent = pc & !3;
            change_child(m, node, child, parent, root);
            if child != 0 {
                (*m.at(child)).parent_color = pc;
                rebalance = 0;
            } else {
                rebalance = if pc & 1 == RB_BLACK { parent } else { 0 };
            }
            tmp = parent;
        } else if child == 0 {
            // Still case 1, with the left child.
            let pc = (*m.at(node)).parent_color;
            (*m.at(tmp)).parent_color = pc;
            let parent = pc & !3;
            change_child(m, node, tmp, parent, root);
            rebalance = 0;
            tmp = parent;
        } else {
            let mut successor = child;
            let parent;
            let child2;
            tmp = rb_left(m, child);
            if tmp == 0 {
                // Case 2: the successor is the right child.
                parent = successor;
                child2 = rb_right(m, successor);
                aug.copy(node, successor);
            } else {
                // Case 3: the successor is the leftmost node under the right child.
                let mut p;
                loop {
                    p = successor;
                    successor = tmp;
                    tmp = rb_left(m, tmp);
                    if tmp == 0 {
                        break;
                    }
                }
                parent = p;
                child2 = rb_right(m, successor);
                set_left(m, parent, child2);
                set_right(m, successor, child);
                set_parent(m, child, successor);
                aug.copy(node, successor);
                aug.propagate(parent, successor);
            }
            tmp = rb_left(m, node);
            set_left(m, successor, tmp);
            set_parent(m, tmp, successor);
            let pc = (*m.at(node)).parent_color;
            tmp = pc & !3;
            change_child(m, node, successor, tmp, root);
            if child2 != 0 {
                set_parent_color(m, child2, parent, RB_BLACK);
                rebalance = 0;
            } else {
                rebalance = if is_black(m, successor) { parent } else { 0 };
            }
            (*m.at(successor)).parent_color = pc;
            tmp = successor;
        }
        if tmp != 0 {
            aug.propagate(tmp, 0);
        }
        if rebalance != 0 {
            erase_color(m, rebalance, root, aug);
        }
    }
}

/// `rb_first`: the leftmost node (0 for an empty tree).
///
/// # Safety
/// `root` is the root of `m`'s tree.
pub unsafe fn rb_first<M: RbMem>(m: &M, root: u64) -> u64 {
    let mut n = root;
    if n == 0 {
        return 0;
    }
    // SAFETY: nodes of the tree.
    unsafe {
        while rb_left(m, n) != 0 {
            n = rb_left(m, n);
        }
    }
    n
}

/// `rb_next`: the in-order successor (0 after the last).
///
/// # Safety
/// `node` is a node of `m`'s tree.
pub unsafe fn rb_next<M: RbMem>(m: &M, node: u64) -> u64 {
    // SAFETY: nodes of the tree.
    unsafe {
        let r = rb_right(m, node);
        if r != 0 {
            return rb_first(m, r);
        }
        let mut n = node;
        loop {
            let p = rb_parent(m, n);
            if p == 0 || rb_left(m, p) == n {
                return p;
            }
            n = p;
        }
    }
}

/// Check the red-black rules below `root` (CONFIG_DEBUG_VM-style): parent links match, no
/// red node has a red child, every path has the same number of black nodes. Returns the
/// number of nodes, or what is wrong.
///
/// # Safety
/// `root` is the root of `m`'s tree.
pub unsafe fn rb_check<M: RbMem>(m: &M, root: u64) -> Result<usize, alloc::string::String> {
    fn walk<M: RbMem>(m: &M, n: u64, parent: u64, depth: u32) -> Result<(u32, usize), String> {
        if n == 0 {
            return Ok((1, 0));
        }
        if depth > 128 {
            return Err(String::from("tree deeper than 128"));
        }
        // SAFETY: a node reached through the tree's links.
        unsafe {
            if rb_parent(m, n) != parent {
                return Err(alloc::format!(
                    "{n:#x}: parent link {:#x}, expected {parent:#x}",
                    rb_parent(m, n)
                ));
            }
            let (l, r) = (rb_left(m, n), rb_right(m, n));
            if is_red(m, n) && ((l != 0 && is_red(m, l)) || (r != 0 && is_red(m, r))) {
                return Err(alloc::format!("{n:#x}: a red node with a red child"));
            }
            let (bl, cl) = walk(m, l, n, depth + 1)?;
            let (br, cr) = walk(m, r, n, depth + 1)?;
            if bl != br {
                return Err(alloc::format!("{n:#x}: black heights {bl} and {br}"));
            }
            Ok((bl + u32::from(is_black(m, n)), cl + cr + 1))
        }
    }
    use alloc::string::String;
    // SAFETY: the caller's contract.
    if root != 0 && unsafe { is_red(m, root) } {
        return Err(String::from("the root is red"));
    }
    walk(m, root, 0, 0).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Nodes in a host array, at addresses (index + 1) * 32 (never 0, low bits clear).
    struct Arena {
        nodes: Vec<core::cell::UnsafeCell<(RbNode, u64)>>,
    }

    impl RbMem for Arena {
        unsafe fn at(&self, node: u64) -> *mut RbNode {
            let i = (node / 32 - 1) as usize;
            // SAFETY: the node exists (the contract); the tuple's first field is the node.
            unsafe { &raw mut (*self.nodes[i].get()).0 }
        }
    }

    impl Arena {
        fn key(&self, node: u64) -> u64 {
            // SAFETY: a node of the arena.
            unsafe { (*self.nodes[(node / 32 - 1) as usize].get()).1 }
        }
        fn insert(&self, root: &mut u64, node: u64) {
            let k = self.key(node);
            let mut link = Link::Root;
            let mut n = *root;
            while n != 0 {
                // SAFETY: nodes of the tree.
                unsafe {
                    if k < self.key(n) {
                        link = Link::Left(n);
                        n = rb_left(self, n);
                    } else {
                        link = Link::Right(n);
                        n = rb_right(self, n);
                    }
                }
            }
            // SAFETY: `node` is a free node of the arena, `link` empty.
            unsafe {
                rb_link_node(self, node, link, root);
                rb_insert(self, node, root, &NoAugment);
            }
        }
        fn in_order(&self, root: u64) -> Vec<u64> {
            let mut v = Vec::new();
            // SAFETY: nodes of the tree.
            unsafe {
                let mut n = rb_first(self, root);
                while n != 0 {
                    v.push(self.key(n));
                    n = rb_next(self, n);
                }
            }
            v
        }
    }

    proptest::proptest! {
        #[test]
        fn inserts_and_erases_keep_the_rules(keys in proptest::collection::vec(0u64..1000, 1..200), erase in proptest::collection::vec(proptest::bool::ANY, 200)) {
            let arena = Arena { nodes: keys.iter().map(|&k| core::cell::UnsafeCell::new((RbNode::default(), k))).collect() };
            let mut root = 0u64;
            for i in 0..keys.len() {
                arena.insert(&mut root, (i as u64 + 1) * 32);
                // SAFETY: the arena's tree.
                proptest::prop_assert_eq!(unsafe { rb_check(&arena, root) }, Ok(i + 1));
            }
            let mut left: Vec<u64> = keys.clone();
            for i in 0..keys.len() {
                if erase[i] {
                    // SAFETY: node i is in the tree.
                    unsafe { rb_erase(&arena, (i as u64 + 1) * 32, &mut root, &NoAugment) };
                    let at = left.iter().position(|&k| k == keys[i]).unwrap();
                    left.remove(at);
                    // SAFETY: the arena's tree.
                    proptest::prop_assert_eq!(unsafe { rb_check(&arena, root) }, Ok(left.len()));
                }
            }
            left.sort_unstable();
            proptest::prop_assert_eq!(arena.in_order(root), left);
        }
    }
}
