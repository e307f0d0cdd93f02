//! Byte-level mutations of an encoded file: bit flips, interesting bytes, truncation, deletion,
//! duplication, and splices from another file.
//!
//! The structure-aware mutators ([`crate::model`], [`crate::data`]) make inputs a parser
//! accepts and a pass then chokes on; these make inputs the parser itself must refuse cleanly
//! (protobuf varints and lengths cut in half, zip directories pointing past the end).
//!
//! ```
//! use optimize_fuzz::bytes::mutate_bytes;
//! use optimize_fuzz::rng::Rng;
//!
//! let mut b = b"\x08\x08\x12\x04test".to_vec();
//! let done = mutate_bytes(&mut b, &mut Rng::new(1), None, 3);
//! assert_eq!(done.len(), 3);
//! ```

use crate::rng::Rng;

/// Applies `count` byte mutations; `donor` is spliced from when given. Returns their names.
pub fn mutate_bytes(
    bytes: &mut Vec<u8>,
    rng: &mut Rng,
    donor: Option<&[u8]>,
    count: usize,
) -> Vec<&'static str> {
    (0..count).map(|_| mutate_once(bytes, rng, donor)).collect()
}

/// Most structure sits near the start of a file (headers, the protobuf's graph fields before
/// the weights); half the positions are drawn from the first 512 bytes.
fn position(len: usize, rng: &mut Rng) -> usize {
    if rng.chance(0.5) {
        rng.below(len.min(512))
    } else {
        rng.below(len)
    }
}

fn mutate_once(bytes: &mut Vec<u8>, rng: &mut Rng, donor: Option<&[u8]>) -> &'static str {
    let len = bytes.len();
    if len == 0 {
        bytes.extend((0..1 + rng.below(16)).map(|_| rng.u64() as u8));
        return "fill";
    }
    match rng.below(8) {
        0 => {
            let i = position(len, rng);
            bytes[i] ^= 1 << rng.below(8);
            "bit-flip"
        }
        1 => {
            let i = position(len, rng);
            bytes[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x08][rng.below(8)];
            "interesting-byte"
        }
        2 => {
            bytes.truncate(rng.below(len));
            "truncate"
        }
        3 => {
            let at = position(len, rng);
            let n = 1 + rng.below(64.min(len - at));
            bytes.drain(at..at + n);
            "delete"
        }
        4 => {
            let at = position(len, rng);
            let n = 1 + rng.below(64.min(len - at));
            let chunk = bytes[at..at + n].to_vec();
            let to = rng.below(bytes.len() + 1);
            bytes.splice(to..to, chunk);
            "duplicate"
        }
        5 => {
            // A varint that never ends, or one that claims a huge length.
            let at = position(len, rng);
            let junk: &[u8] = if rng.chance(0.5) {
                &[0xff; 10]
            } else {
                &[0xff, 0xff, 0xff, 0xff, 0x0f]
            };
            bytes.splice(at..at, junk.iter().copied());
            "varint"
        }
        6 => match donor.filter(|d| !d.is_empty()) {
            Some(d) => {
                let from = rng.below(d.len());
                let n = 1 + rng.below(256.min(d.len() - from));
                let at = position(len, rng);
                let end = (at + rng.below(256)).min(len);
                bytes.splice(at..end, d[from..from + n].iter().copied());
                "splice"
            }
            None => {
                bytes.extend((0..1 + rng.below(64)).map(|_| rng.u64() as u8));
                "append"
            }
        },
        _ => {
            // A 4-byte little-endian length or offset set to something interesting.
            let at = position(len.saturating_sub(4).max(1), rng);
            let v = rng.int() as u32;
            for (k, b) in v.to_le_bytes().iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + k) {
                    *slot = *b;
                }
            }
            "word"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_mutations_are_deterministic_and_total() {
        let base: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        for seed in 0..500 {
            let (mut a, mut b) = (base.clone(), base.clone());
            mutate_bytes(&mut a, &mut Rng::new(seed), Some(&base[..10]), 4);
            mutate_bytes(&mut b, &mut Rng::new(seed), Some(&base[..10]), 4);
            assert_eq!(a, b);
        }
        // Tiny and empty inputs never index out of range.
        for seed in 0..500 {
            let mut tiny = vec![1u8; seed as usize % 3];
            mutate_bytes(&mut tiny, &mut Rng::new(seed), Some(&[]), 6);
        }
    }
}
