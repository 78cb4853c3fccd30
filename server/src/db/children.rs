//! The child index of one znode: names in order, each with the arena slot of
//! its node.
//!
//! Why not a `BTreeMap<CompactString, u32>`: std's B-tree splits a full node
//! near the middle, so names inserted in ascending order — the usual case:
//! sequential znodes, bulk loads, a snapshot being read — leave every leaf
//! about half empty, and the index cost ~56 bytes per child, a fifth of a
//! znode's whole footprint. Here the names live in sorted blocks of at most
//! [`BLOCK`] entries, names and slots in separate arrays (no padding). An
//! append past the last name opens a new block instead of splitting, so
//! ascending inserts fill blocks completely (~29 bytes per child); inserts
//! elsewhere split a full block in halves, as a B-tree would. Lookups are a
//! binary search over the blocks' last names, then one inside the block.

use compact_str::CompactString;

/// Most entries in one block. Inserting into a block moves at most this many
/// names, and a block's arrays grow 4, 8, … up to exactly this capacity.
const BLOCK: usize = 128;

#[derive(Debug, Clone, Default)]
struct Block {
    names: Vec<CompactString>,
    ids: Vec<u32>,
}

impl Block {
    fn last(&self) -> Option<&str> {
        self.names.last().map(|n| n.as_str())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name))
    }
}

/// Child names in order, to arena slots. Blocks are never empty.
#[derive(Debug, Clone, Default)]
pub struct Children {
    blocks: Vec<Block>,
    len: usize,
}

impl Children {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first block whose last name is `>= name` (`blocks.len()` if none).
    fn block_for(&self, name: &str) -> usize {
        self.blocks
            .partition_point(|b| b.last().is_some_and(|l| l < name))
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        let b = self.blocks.get(self.block_for(name))?;
        b.find(name).ok().map(|i| b.ids[i])
    }

    /// Inserts `name`; returns the slot it replaced, if it was there.
    pub fn insert(&mut self, name: CompactString, id: u32) -> Option<u32> {
        let mut bi = self.block_for(&name);
        if bi == self.blocks.len() {
            // Past the last name: append, to the last block if it has room.
            match self.blocks.last_mut() {
                Some(b) if b.names.len() < BLOCK => {
                    b.names.push(name);
                    b.ids.push(id);
                }
                _ => self.blocks.push(Block {
                    names: vec![name],
                    ids: vec![id],
                }),
            }
            self.len += 1;
            return None;
        }
        let pos = match self.blocks[bi].find(&name) {
            Ok(i) => return Some(std::mem::replace(&mut self.blocks[bi].ids[i], id)),
            Err(i) => i,
        };
        let mut pos = pos;
        if self.blocks[bi].names.len() == BLOCK {
            // Split before inserting, so no array grows past BLOCK.
            let b = &mut self.blocks[bi];
            let right = Block {
                names: b.names.split_off(BLOCK / 2),
                ids: b.ids.split_off(BLOCK / 2),
            };
            self.blocks.insert(bi + 1, right);
            if pos > BLOCK / 2 {
                bi += 1;
                pos -= BLOCK / 2;
            }
        }
        let b = &mut self.blocks[bi];
        b.names.insert(pos, name);
        b.ids.insert(pos, id);
        self.len += 1;
        None
    }

    pub fn remove(&mut self, name: &str) -> Option<u32> {
        let bi = self.block_for(name);
        let b = self.blocks.get_mut(bi)?;
        let i = b.find(name).ok()?;
        b.names.remove(i);
        let id = b.ids.remove(i);
        if b.names.is_empty() {
            self.blocks.remove(bi);
        } else if b.names.len() < b.names.capacity() / 4 {
            b.names.shrink_to(b.names.len() * 2);
            b.ids.shrink_to(b.ids.len() * 2);
        }
        self.len -= 1;
        Some(id)
    }

    /// Every (name, slot), in name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, u32)> {
        self.blocks.iter().flat_map(|b| {
            b.names
                .iter()
                .zip(b.ids.iter())
                .map(|(n, i)| (n.as_str(), *i))
        })
    }

    pub fn values(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks.iter().flat_map(|b| b.ids.iter().copied())
    }

    /// The entries after `after` (all of them for `None`), in name order.
    pub fn iter_after<'a>(&'a self, after: Option<&str>) -> impl Iterator<Item = (&'a str, u32)> {
        let (bi, pos) = match after {
            None => (0, 0),
            Some(a) => {
                let bi = self
                    .blocks
                    .partition_point(|b| b.last().is_some_and(|l| l <= a));
                let pos = self
                    .blocks
                    .get(bi)
                    .map_or(0, |b| b.names.partition_point(|n| n.as_str() <= a));
                (bi, pos)
            }
        };
        self.blocks
            .get(bi..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(k, b)| {
                let start = if k == 0 { pos } else { 0 };
                b.names[start..]
                    .iter()
                    .zip(b.ids[start..].iter())
                    .map(|(n, i)| (n.as_str(), *i))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn check(c: &Children, m: &BTreeMap<String, u32>) {
        assert_eq!(c.len(), m.len());
        let got: Vec<(String, u32)> = c.iter().map(|(n, i)| (n.to_string(), i)).collect();
        let want: Vec<(String, u32)> = m.iter().map(|(n, i)| (n.clone(), *i)).collect();
        assert_eq!(got, want);
        let rev: Vec<(String, u32)> = c.iter().rev().map(|(n, i)| (n.to_string(), i)).collect();
        assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
        for b in &c.blocks {
            assert!(!b.names.is_empty() && b.names.len() <= BLOCK);
            assert_eq!(b.names.len(), b.ids.len());
        }
    }

    /// Random inserts, replacements, removes and lookups against a BTreeMap,
    /// with names that cluster (so blocks split, empty and refill).
    #[test]
    fn behaves_like_a_btreemap() {
        for seed in 0..20u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut c = Children::default();
            let mut m = BTreeMap::new();
            let span = [50u32, 500, 5000][seed as usize % 3];
            for step in 0..6000u32 {
                let name = format!("n{:05}", rng.gen_range(0..span));
                match rng.gen_range(0..10) {
                    0..=5 => assert_eq!(c.insert(name.as_str().into(), step), m.insert(name, step)),
                    6..=8 => assert_eq!(c.remove(&name), m.remove(&name)),
                    _ => assert_eq!(c.get(&name), m.get(&name).copied()),
                }
                if step % 997 == 0 {
                    check(&c, &m);
                }
            }
            check(&c, &m);
            // Resuming after any name, present or not, sees exactly the rest.
            for probe in 0..span.min(600) {
                let a = format!("n{probe:05}");
                let got: Vec<&str> = c.iter_after(Some(&a)).map(|(n, _)| n).collect();
                let want: Vec<&str> = m
                    .range::<str, _>((
                        std::ops::Bound::Excluded(a.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .map(|(n, _)| n.as_str())
                    .collect();
                assert_eq!(got, want, "after {a}");
            }
            assert_eq!(c.iter_after(None).count(), m.len());
        }
    }

    /// Ascending inserts (sequential znodes, bulk loads) fill blocks.
    #[test]
    fn ascending_inserts_fill_blocks() {
        let mut c = Children::default();
        for i in 0..10_000u32 {
            assert_eq!(c.insert(format!("n{i:06}").as_str().into(), i), None);
        }
        assert_eq!(c.blocks.len(), 10_000usize.div_ceil(BLOCK));
        assert!(c.blocks[..c.blocks.len() - 1]
            .iter()
            .all(|b| b.names.len() == BLOCK && b.names.capacity() == BLOCK));
        assert_eq!(c.get("n004321"), Some(4321));
        assert_eq!(c.get("n010000"), None);
        assert_eq!(c.get("a"), None);
    }
}
