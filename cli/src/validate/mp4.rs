// SPDX-License-Identifier: MPL-2.0
//! Just enough of ISO/IEC 14496-12 to check a CMAF media segment: its samples (the `trun`
//! boxes of the `moof`) and whether the first one is a sync sample (a keyframe a decoder can
//! start at). Reads any bytes without panicking.

/// What a media segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Samples in the first track fragment's runs.
    pub samples: u32,
    /// Whether the first sample is a sync sample; `None` when its flags are not in the
    /// fragment (they would be in the init segment's `trex`).
    pub first_is_sync: Option<bool>,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// The boxes directly in `data`: (type, body).
fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = u32_at(data, at)? as usize;
        let kind: [u8; 4] = data.get(at + 4..at + 8)?.try_into().ok()?;
        let (header, size) = match size {
            // 64-bit size.
            1 => {
                let large = u64::from_be_bytes(data.get(at + 8..at + 16)?.try_into().ok()?);
                (16, usize::try_from(large).ok()?)
            }
            // To the end.
            0 => (8, data.len() - at),
            size => (8, size),
        };
        if size < header {
            return None;
        }
        let body = data.get(at + header..at.checked_add(size)?)?;
        at += size;
        Some((kind, body))
    })
}

fn find<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, body)| body)
}

/// `sample_is_non_sync_sample` (ISO/IEC 14496-12 8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;

/// Reads the first `moof`'s first `traf`. `None` when the bytes are no such segment.
pub fn fragment(segment: &[u8]) -> Option<Fragment> {
    let moof = find(segment, b"moof")?;
    let traf = find(moof, b"traf")?;
    let tfhd = find(traf, b"tfhd")?;
    let tfhd_flags = u32_at(tfhd, 0)? & 0x00ff_ffff;
    // tfhd: version/flags, track_ID, then the optional fields in order.
    let mut at = 8usize;
    for (flag, len) in [(0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4)] {
        if tfhd_flags & flag != 0 {
            at += len;
        }
    }
    let default_flags = (tfhd_flags & 0x20 != 0).then(|| u32_at(tfhd, at)).flatten();
    let mut samples = 0u32;
    let mut first_is_sync = None;
    for (kind, trun) in boxes(traf) {
        if &kind != b"trun" {
            continue;
        }
        let flags = u32_at(trun, 0)? & 0x00ff_ffff;
        let count = u32_at(trun, 4)?;
        if first_is_sync.is_none() && count > 0 {
            let mut at = 8usize;
            if flags & 0x001 != 0 {
                at += 4; // data_offset
            }
            let first_flags = if flags & 0x004 != 0 {
                u32_at(trun, at)
            } else if flags & 0x400 != 0 {
                // The first entry's sample_flags, after its duration and size when present.
                let mut entry = at;
                for (flag, len) in [(0x100, 4), (0x200, 4)] {
                    if flags & flag != 0 {
                        entry += len;
                    }
                }
                u32_at(trun, entry)
            } else {
                default_flags
            };
            first_is_sync = first_flags.map(|f| f & NON_SYNC == 0);
        }
        samples = samples.saturating_add(count);
    }
    Some(Fragment {
        samples,
        first_is_sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn segment(first_flags: u32, count: u32) -> Vec<u8> {
        let tfhd = boxed(b"tfhd", &[0, 0x02, 0, 0x20, 0, 0, 0, 1, 0, 1, 0, 0]);
        let mut trun = vec![0, 0, 0x03, 0x05];
        trun.extend_from_slice(&count.to_be_bytes());
        trun.extend_from_slice(&100u32.to_be_bytes()); // data offset
        trun.extend_from_slice(&first_flags.to_be_bytes());
        for _ in 0..count {
            trun.extend_from_slice(&[0, 0, 0, 40, 0, 0, 0, 10]);
        }
        let traf = boxed(b"traf", &[tfhd, boxed(b"trun", &trun)].concat());
        let moof = boxed(b"moof", &[boxed(b"mfhd", &[0; 8]), traf].concat());
        [
            boxed(b"styp", b"msdhcmfs"),
            moof,
            boxed(b"mdat", &[1, 2, 3]),
        ]
        .concat()
    }

    #[test]
    fn first_sample_flags_say_keyframe_or_not() {
        let key = fragment(&segment(0x0200_0000, 25)).unwrap();
        assert_eq!(key.samples, 25);
        assert_eq!(key.first_is_sync, Some(true));
        let delta = fragment(&segment(0x0101_0000, 3)).unwrap();
        assert_eq!(delta.first_is_sync, Some(false));
        assert_eq!(fragment(b"garbage"), None);
        assert_eq!(fragment(&[]), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = fragment(&data);
        }
    }
}
