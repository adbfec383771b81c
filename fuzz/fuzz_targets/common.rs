// SPDX-License-Identifier: MPL-2.0
//! Shared by the fuzz targets: input layout and the invariants every result must hold.
//!
//! Input: one selector byte, then chunks separated by [`CHUNK_SEPARATOR`]. Each chunk is read
//! as one access unit by the same reader, so parameter sets of one chunk apply to the next.

use gstlockstep::bitstream::{AccessUnitInfo, NalFraming};

/// Separates chunks (access units, or codec_data and access units).
pub const CHUNK_SEPARATOR: &[u8] = b"!AU!";

pub fn framing(selector: u8) -> NalFraming {
    match selector % 4 {
        0 => NalFraming::AnnexB,
        1 => NalFraming::LengthPrefixed(1),
        2 => NalFraming::LengthPrefixed(2),
        _ => NalFraming::LengthPrefixed(4),
    }
}

pub fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current
            .windows(CHUNK_SEPARATOR.len())
            .position(|w| w == CHUNK_SEPARATOR)
        {
            Some(at) => {
                rest = Some(&current[at + CHUNK_SEPARATOR.len()..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// What the readers promise about any result.
pub fn check(info: &AccessUnitInfo) {
    assert!(
        info.clocks.len() <= 3,
        "more clocks than any syntax allows: {info:?}"
    );
    for clock in &info.clocks {
        assert!(clock.seconds.is_none_or(|s| s <= 59), "{clock:?}");
        assert!(clock.minutes.is_none_or(|m| m <= 59), "{clock:?}");
        assert!(clock.hours.is_none_or(|h| h <= 23), "{clock:?}");
        assert!(clock.counting_type <= 31 && clock.ct_type <= 3 && clock.n_frames <= 511);
        if clock.full_timestamp {
            assert!(clock.seconds.is_some() && clock.minutes.is_some() && clock.hours.is_some());
        }
        // The nested form cannot carry a field without the ones below it.
        assert!(clock.hours.is_none() || clock.minutes.is_some());
        assert!(clock.minutes.is_none() || clock.seconds.is_some());
    }
    assert!(info.pic_struct.is_none_or(|p| p <= 8));
    assert!(
        info.faults.windows(2).all(|w| w[0] < w[1]),
        "faults not unique: {:?}",
        info.faults
    );
    if let Some(timing) = info.timing {
        let _ = timing.frame_rate();
    }
}
