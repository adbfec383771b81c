// SPDX-License-Identifier: MPL-2.0
//! Where a stream that reorders frames (B-frames) can be left or joined: [`CutTracker`].
//!
//! Frames arrive in decode order; their names (indices) are presentation order. The switching
//! core needs, per pad, indices that increase by one in arrival order, and it may only change
//! branch where the set of frames already delivered is exactly "every index below this one".
//! [`CutTracker`] turns each arriving frame's presentation index into a *slot* (its decode
//! position, anchored so that slot = presentation index at every cut) and says whether the
//! frame is a *cut*: every frame presented before it arrived before it, and none presented
//! after it did. A stream that does not reorder has a cut at every frame and slot = index.

use super::FrameIndex;

/// How far ahead of the oldest missing index a reordered frame may be: deeper than any real
/// B-pyramid (x264's is at most 16). A frame further ahead means the missing ones were lost: the
/// tracker starts again from that frame.
pub const MAX_REORDER_DEPTH: FrameIndex = 64;

/// Per-pad decode-order tracking; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct CutTracker {
    state: Option<Tracking>,
}

#[derive(Debug, Clone, Copy)]
struct Tracking {
    /// The smallest index not delivered yet (every index below it was).
    base: FrameIndex,
    /// Bit `i`: index `base + 1 + i` was delivered already (ahead of `base`).
    ahead: u64,
    /// The slot the next frame gets.
    next_slot: FrameIndex,
}

/// What [`CutTracker::observe`] says of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The index to give the switching core: the frame's decode position, equal to its
    /// presentation index at cuts.
    pub slot: FrameIndex,
    /// The frame is a cut (see the module documentation).
    pub cut: bool,
}

impl CutTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        CutTracker::default()
    }

    /// Forgets the stream (flush, new stream, discontinuity): the next frame starts afresh.
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Places the next frame in decode order. `index` is its presentation index; `in_order` is
    /// true when the frame is known to be presented as soon as it is decoded (its DTS equals its
    /// PTS, or it has no DTS): then nothing arriving later can be presented before it.
    pub fn observe(&mut self, index: FrameIndex, in_order: bool) -> Placement {
        let Some(mut tracking) = self.state else {
            return self.start_at(index);
        };
        if in_order || index < tracking.base || index > tracking.base + MAX_REORDER_DEPTH {
            // In order: a cut by definition (frames missing before it were lost). Behind the
            // base (a repeat or a restart) or too far ahead (frames lost): start afresh.
            return self.start_at(index);
        }
        let slot = tracking.next_slot;
        tracking.next_slot = tracking.next_slot.saturating_add(1);
        let placement = if index == tracking.base {
            let cut = tracking.ahead == 0;
            // Consume `base`, then every index already delivered right after it.
            tracking.base += 1;
            loop {
                let seen = tracking.ahead & 1 == 1;
                tracking.ahead >>= 1;
                if !seen {
                    break;
                }
                tracking.base += 1;
            }
            if cut {
                // Slot and index agree again at a cut (frames lost earlier are behind us).
                tracking.next_slot = index.saturating_add(1);
                Placement { slot: index, cut }
            } else {
                Placement { slot, cut }
            }
        } else {
            // Ahead of a missing index: 1 ≤ index − base ≤ MAX_REORDER_DEPTH, so the bit fits.
            let bit = u32::try_from(index - tracking.base - 1)
                .unwrap_or(63)
                .min(63);
            tracking.ahead |= 1 << bit;
            Placement { slot, cut: false }
        };
        self.state = Some(tracking);
        placement
    }

    fn start_at(&mut self, index: FrameIndex) -> Placement {
        self.state = Some(Tracking {
            base: index.saturating_add(1),
            ahead: 0,
            next_slot: index.saturating_add(1),
        });
        Placement {
            slot: index,
            cut: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn place(indices: &[FrameIndex]) -> Vec<(FrameIndex, bool)> {
        let mut tracker = CutTracker::new();
        indices
            .iter()
            .map(|&index| {
                let p = tracker.observe(index, false);
                (p.slot, p.cut)
            })
            .collect()
    }

    #[test]
    fn in_order_stream_is_cut_everywhere() {
        assert_eq!(
            place(&[5, 6, 7, 8]),
            vec![(5, true), (6, true), (7, true), (8, true)]
        );
    }

    #[test]
    fn x264_b_frames() {
        // key-int-max=5 with B-frames, as x264enc emits it: I0 P4 B2 B1 B3 I5 P9 B7 B6 B8 I10.
        assert_eq!(
            place(&[0, 4, 2, 1, 3, 5, 9, 7, 6, 8, 10]),
            vec![
                (0, true),
                (1, false),
                (2, false),
                (3, false),
                (4, false),
                (5, true),
                (6, false),
                (7, false),
                (8, false),
                (9, false),
                (10, true),
            ]
        );
    }

    #[test]
    fn open_gop_i_frame_is_not_a_cut() {
        // P8 B6 B7 I12 B9 B10 B11: the I-frame has leading pictures after it.
        let placed = place(&[5, 8, 6, 7, 12, 9, 10, 11, 13]);
        assert_eq!(placed[4], (9, false));
        assert_eq!(placed[8], (13, true));
    }

    #[test]
    fn in_order_frame_is_a_cut_even_after_a_loss() {
        let mut tracker = CutTracker::new();
        tracker.observe(0, true);
        tracker.observe(1, true);
        // 2 was lost upstream; 3 is in order, so it is a cut at its own index.
        assert_eq!(tracker.observe(3, true), Placement { slot: 3, cut: true });
    }

    #[test]
    fn lost_frame_in_a_reordered_stream_resets_past_the_depth() {
        let mut tracker = CutTracker::new();
        tracker.observe(0, false);
        // 1 never comes.
        for index in 2..(2 + MAX_REORDER_DEPTH) {
            assert!(!tracker.observe(index, false).cut);
        }
        let far = 2 + MAX_REORDER_DEPTH;
        assert_eq!(
            tracker.observe(far, false),
            Placement {
                slot: far,
                cut: true
            }
        );
    }

    #[test]
    fn restart_behind_starts_afresh() {
        let mut tracker = CutTracker::new();
        tracker.observe(100, false);
        tracker.observe(101, false);
        assert_eq!(
            tracker.observe(10, false),
            Placement {
                slot: 10,
                cut: true
            }
        );
    }

    /// A random GOP structure: runs of one anchor followed by the B-frames before it, the way
    /// encoders reorder (anchor index a+n first, then a+1..a+n-1 in any order).
    fn reordered(runs: &[(usize, Vec<usize>)]) -> Vec<FrameIndex> {
        let mut out = vec![0];
        let mut next: FrameIndex = 1;
        for (len, order) in runs {
            let len = (*len).max(1) as FrameIndex;
            out.push(next + len - 1);
            let mut bs: Vec<FrameIndex> = (next..next + len - 1).collect();
            for (i, &o) in order.iter().enumerate() {
                let n = bs.len();
                if n > 0 {
                    bs.swap(i % n, o % n);
                }
            }
            out.extend(bs);
            next += len;
        }
        out
    }

    proptest! {
        /// Slots increase by one in arrival order; at a cut, slot = index and exactly the
        /// indices below it were delivered; after the last frame of every run, the next anchor
        /// is a cut.
        #[test]
        fn slots_are_consecutive_and_cuts_are_exact(
            runs in proptest::collection::vec((1usize..6, proptest::collection::vec(0usize..8, 0..6)), 1..30)
        ) {
            let frames = reordered(&runs);
            let mut tracker = CutTracker::new();
            let mut delivered = std::collections::BTreeSet::new();
            let mut cuts = 0;
            for (n, &index) in frames.iter().enumerate() {
                let placement = tracker.observe(index, false);
                prop_assert_eq!(placement.slot, n as FrameIndex);
                let exact = delivered.len() == index as usize
                    && delivered.iter().next_back().is_none_or(|&max| max < index);
                prop_assert_eq!(placement.cut, exact);
                if placement.cut {
                    prop_assert_eq!(placement.slot, index);
                    cuts += 1;
                }
                delivered.insert(index);
            }
            // Every anchor of a run of length 1 (no B-frames) is a cut, and so is frame 0.
            prop_assert!(cuts > runs.iter().filter(|(len, _)| *len <= 1).count());
        }
    }
}
