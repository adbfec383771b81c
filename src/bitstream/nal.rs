// SPDX-License-Identifier: MPL-2.0
//! NAL unit iteration over Annex B byte streams (H.264/H.265 Annex B) and length-prefixed
//! buffers (ISO/IEC 14496-15 avcC/hvcC samples). The iterators borrow: they never allocate.

use super::{Fault, NalFraming, ParseError};

/// The NAL units of an Annex B buffer (H.264 B.1 byte_stream_nal_unit): the bytes between
/// `00 00 01` start codes. A 4-byte start code is a zero_byte plus the 3-byte code, so the
/// zero is stripped like trailing_zero_8bits: every NAL unit is returned without its trailing
/// zero bytes (a NAL unit cannot end in `00`; H.264 7.4.1). Bytes before the first start code
/// (leading_zero_8bits, or garbage) are skipped, and so are empty NAL units.
#[derive(Debug, Clone)]
pub struct AnnexBNalUnits<'a> {
    data: &'a [u8],
    /// Where the current NAL unit starts (just after its start code), or None when done.
    next_start: Option<usize>,
}

impl<'a> AnnexBNalUnits<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let next_start = find_start_code(data, 0).map(|sc| sc + 3);
        AnnexBNalUnits { data, next_start }
    }

    /// Moves past NAL units that are empty (nothing but zero bytes before the next start code
    /// or the end), so `next_start` is the header of a real NAL unit or None.
    fn skip_empty(&mut self) {
        while let Some(start) = self.next_start {
            let rest = self.data.get(start..).unwrap_or(&[]);
            match rest.iter().position(|&b| b != 0) {
                None => self.next_start = None,
                // Two or more zeros then 01: another start code right away.
                Some(zeros) if zeros >= 2 && rest[zeros] == 1 => {
                    self.next_start = Some(start + zeros + 1);
                }
                Some(_) => return,
            }
        }
    }

    /// The next NAL unit from its header to the end of the buffer, without searching for its
    /// end (which for a slice means scanning all of it). Callers that only need a header look
    /// here, then stop or call `next()`.
    pub fn peek_start(&mut self) -> Option<&'a [u8]> {
        self.skip_empty();
        self.data.get(self.next_start?..)
    }
}

impl<'a> Iterator for AnnexBNalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.skip_empty();
        let start = self.next_start?;
        let (end, following) = match find_start_code(self.data, start) {
            Some(sc) => (sc, Some(sc + 3)),
            None => (self.data.len(), None),
        };
        self.next_start = following;
        // Not empty: skip_empty stopped at a non-zero byte before `end`.
        Some(strip_trailing_zeros(
            self.data.get(start..end).unwrap_or(&[]),
        ))
    }
}

/// The NAL units of an Annex B buffer from the end backwards, down to (not including) the NAL
/// unit whose header is at `floor` or before: a way to reach the NAL units after a picture's
/// slices (H.265 suffix SEI) without scanning the slices. Same trimming as [`AnnexBNalUnits`].
#[derive(Debug, Clone)]
pub struct AnnexBNalUnitsRev<'a> {
    data: &'a [u8],
    end: usize,
    floor: usize,
}

impl<'a> AnnexBNalUnitsRev<'a> {
    pub fn new(data: &'a [u8], floor: usize) -> Self {
        AnnexBNalUnitsRev {
            data,
            end: data.len(),
            floor,
        }
    }
}

impl<'a> Iterator for AnnexBNalUnitsRev<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let sc = find_last_start_code(self.data, self.floor, self.end)?;
            let nal = strip_trailing_zeros(self.data.get(sc + 3..self.end).unwrap_or(&[]));
            self.end = sc;
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

fn strip_trailing_zeros(nal: &[u8]) -> &[u8] {
    let len = nal.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
    &nal[..len]
}

/// Index of the next `00 00 01` at or after `from`.
pub fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 2 < data.len() {
        // Eight bytes without a zero cannot hold the first byte of a start code: entropy-coded
        // slice data is skipped a word at a time.
        if let Some(word) = word_at(data, i)
            && !has_zero_byte(word)
        {
            i += 8;
            continue;
        }
        let third = data[i + 2];
        if third > 1 {
            // A start code at i needs data[i+2] = 1, at i+1 or i+2 needs data[i+2] = 0.
            i += 3;
        } else if third == 1 && data[i] == 0 && data[i + 1] == 0 {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

/// Index of the last `00 00 01` that starts at or after `floor` and ends at or before `end`.
pub fn find_last_start_code(data: &[u8], floor: usize, end: usize) -> Option<usize> {
    let end = end.min(data.len());
    let mut i = end.checked_sub(3)?;
    while i >= floor {
        // No zero in data[i−7..=i]: no start code begins at any of those positions.
        if let Some(start) = i.checked_sub(7)
            && start >= floor
            && let Some(word) = word_at(data, start)
            && !has_zero_byte(word)
        {
            i = i.checked_sub(8)?;
            continue;
        }
        let first = data[i];
        if first > 1 {
            // Start codes at i and i−1 need data[i] = 0, at i−2 needs data[i] = 1.
            i = i.checked_sub(3)?;
        } else if first == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some(i);
        } else {
            i = i.checked_sub(1)?;
        }
    }
    None
}

#[inline]
fn word_at(data: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = data.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_ne_bytes(bytes))
}

/// True if any byte of `word` is zero (the classic bit trick: exact, no false positives when
/// used as a yes/no answer).
#[inline]
fn has_zero_byte(word: u64) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    word.wrapping_sub(LOW) & !word & HIGH != 0
}

/// The NAL units of a length-prefixed buffer: each is preceded by its size, big endian, in
/// `size_len` bytes (1 to 4). A size that runs past the end of the buffer (or a size field that
/// is cut off, or a `size_len` outside 1..=4) yields one `Err(Fault::MalformedNal)` and ends the
/// iteration. NAL units of size 0 are skipped.
#[derive(Debug, Clone)]
pub struct LengthPrefixedNalUnits<'a> {
    data: &'a [u8],
    pos: usize,
    size_len: usize,
    done: bool,
}

impl<'a> LengthPrefixedNalUnits<'a> {
    pub fn new(data: &'a [u8], size_len: u8) -> Self {
        LengthPrefixedNalUnits {
            data,
            pos: 0,
            size_len: usize::from(size_len),
            done: false,
        }
    }

    /// The next NAL unit without consuming it; None at the end or when the framing is broken
    /// (`next()` then reports the fault).
    pub fn peek_start(&mut self) -> Option<&'a [u8]> {
        self.clone().next()?.ok()
    }

    fn fail(&mut self) -> Option<Result<&'a [u8], Fault>> {
        self.done = true;
        Some(Err(Fault::MalformedNal))
    }
}

impl<'a> Iterator for LengthPrefixedNalUnits<'a> {
    type Item = Result<&'a [u8], Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.pos < self.data.len() {
            if !(1..=4).contains(&self.size_len) {
                return self.fail();
            }
            let Some(size_bytes) = self.data.get(self.pos..self.pos + self.size_len) else {
                return self.fail();
            };
            let size = size_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            let start = self.pos + self.size_len;
            let Some(nal) = start
                .checked_add(size)
                .and_then(|end| self.data.get(start..end))
            else {
                return self.fail();
            };
            self.pos = start + size;
            if !nal.is_empty() {
                return Some(Ok(nal));
            }
        }
        self.done = true;
        None
    }
}

/// The NAL units of a buffer in either framing. Annex B never fails; length-prefixed framing
/// yields `Err(Fault::MalformedNal)` once when a size is broken, then stops.
#[derive(Debug, Clone)]
pub enum NalUnits<'a> {
    AnnexB(AnnexBNalUnits<'a>),
    LengthPrefixed(LengthPrefixedNalUnits<'a>),
}

impl<'a> NalUnits<'a> {
    pub fn new(data: &'a [u8], framing: NalFraming) -> Self {
        match framing {
            NalFraming::AnnexB => NalUnits::AnnexB(AnnexBNalUnits::new(data)),
            NalFraming::LengthPrefixed(size_len) => {
                NalUnits::LengthPrefixed(LengthPrefixedNalUnits::new(data, size_len))
            }
        }
    }

    /// The next NAL unit without consuming it. For Annex B it runs to the end of the buffer
    /// (its end is not searched); for length-prefixed data it is exact. None at the end or
    /// where the framing is broken.
    pub fn peek_start(&mut self) -> Option<&'a [u8]> {
        match self {
            NalUnits::AnnexB(units) => units.peek_start(),
            NalUnits::LengthPrefixed(units) => units.peek_start(),
        }
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            NalUnits::AnnexB(units) => units.next().map(Ok),
            NalUnits::LengthPrefixed(units) => units.next(),
        }
    }
}

/// The first `max_len` bytes of a NAL unit seen through [`NalUnits::peek_start`], cut at a
/// start code inside them: enough to read a slice header's first fields without searching for
/// the end of the slice.
pub fn header_window(nal_start: &[u8], max_len: usize) -> &[u8] {
    let window = &nal_start[..nal_start.len().min(max_len)];
    match find_start_code(window, 0) {
        Some(sc) => strip_trailing_zeros(&window[..sc]),
        None => window,
    }
}

/// True if `data` starts with an Annex B start code (`00 00 01` or `00 00 00 01`), which is how
/// codec_data that is not avcC/hvcC (some muxers put raw parameter sets there) is recognised.
pub fn starts_with_start_code(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// Joins NAL units (header included, emulation prevention applied) into an Annex B buffer with
/// 4-byte start codes. For building test streams.
pub fn write_annex_b(nal_units: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal_units.iter().map(|n| n.len() + 4).sum());
    for nal in nal_units {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

/// Joins NAL units into a length-prefixed buffer with `size_len`-byte big-endian sizes
/// (1 to 4). A NAL unit too large for the size field is a caller bug (debug assertion; release
/// builds write the low bytes of the size). For building test streams.
pub fn write_length_prefixed(nal_units: &[&[u8]], size_len: u8) -> Vec<u8> {
    debug_assert!((1..=4).contains(&size_len));
    let size_len = usize::from(size_len.clamp(1, 4));
    let mut out = Vec::with_capacity(nal_units.iter().map(|n| n.len() + size_len).sum());
    for nal in nal_units {
        debug_assert!(size_len == 4 || nal.len() < 1 << (8 * size_len));
        let size = (nal.len() as u32).to_be_bytes();
        out.extend_from_slice(&size[4 - size_len..]);
        out.extend_from_slice(nal);
    }
    out
}

/// Reads one NAL unit preceded by its 16-bit big-endian size, as avcC and hvcC store parameter
/// sets (ISO/IEC 14496-15 5.3.3.1 / 8.3.3.1), and moves `pos` past it.
pub fn take_u16_prefixed<'a>(data: &'a [u8], pos: &mut usize) -> Result<&'a [u8], ParseError> {
    let size = data
        .get(*pos..pos.saturating_add(2))
        .ok_or(ParseError::Truncated)?;
    let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
    let start = pos.saturating_add(2);
    let nal = data
        .get(start..start.saturating_add(size))
        .ok_or(ParseError::Truncated)?;
    *pos = start + size;
    Ok(nal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn annex_b_three_and_four_byte_start_codes() {
        let data = [
            0x00, 0x00, 0x00, 0x01, 0x09, 0x10, // AUD, 4-byte start code
            0x00, 0x00, 0x01, 0x67, 0x42, 0x00, 0x00, // SPS, then trailing_zero_8bits
            0x00, 0x00, 0x00, 0x01, 0x68, 0xce, // PPS
            0x00, 0x00, 0x01, 0x00, 0x00, 0x01, // empty NAL unit (only zeros): skipped
            0x65, 0x88, 0x00, 0x00, 0x03, 0x01,
            0x00, // IDR slice with an escape, trailing zero
        ];
        let nals: Vec<&[u8]> = AnnexBNalUnits::new(&data).collect();
        assert_eq!(
            nals,
            [
                &[0x09, 0x10][..],
                &[0x67, 0x42],
                &[0x68, 0xce],
                &[0x65, 0x88, 0x00, 0x00, 0x03, 0x01]
            ]
        );
    }

    #[test]
    fn annex_b_without_start_code_or_with_garbage_before_it() {
        assert_eq!(AnnexBNalUnits::new(&[0x67, 0x42, 0x00]).count(), 0);
        assert_eq!(AnnexBNalUnits::new(&[]).count(), 0);
        assert_eq!(AnnexBNalUnits::new(&[0, 0, 1]).count(), 0);
        let nals: Vec<&[u8]> = AnnexBNalUnits::new(&[0x12, 0x00, 0x00, 0x01, 0x06, 0x80]).collect();
        assert_eq!(nals, [&[0x06, 0x80][..]]);
    }

    #[test]
    fn length_prefixed_sizes() {
        for size_len in [1u8, 2, 4] {
            let data =
                write_length_prefixed(&[&[0x09, 0x10], &[], &[0x67, 0x42, 0x00, 0x1e]], size_len);
            let nals: Vec<_> = LengthPrefixedNalUnits::new(&data, size_len).collect();
            assert_eq!(
                nals,
                [Ok(&[0x09, 0x10][..]), Ok(&[0x67, 0x42, 0x00, 0x1e][..])]
            );
        }
    }

    #[test]
    fn length_prefixed_overrun_is_malformed_and_stops() {
        let data = [
            0, 0, 0, 2, 0x09, 0x10, 0, 0, 0, 9, 0x67, 0x42, 0, 0, 0, 1, 0x68,
        ];
        let nals: Vec<_> = LengthPrefixedNalUnits::new(&data, 4).collect();
        assert_eq!(nals, [Ok(&[0x09, 0x10][..]), Err(Fault::MalformedNal)]);
        // A size field cut off at the end.
        let nals: Vec<_> = LengthPrefixedNalUnits::new(&[0, 1, 0x09, 0], 2).collect();
        assert_eq!(nals, [Ok(&[0x09][..]), Err(Fault::MalformedNal)]);
        // An impossible size length.
        let nals: Vec<_> = NalUnits::new(&[1, 2, 3], NalFraming::LengthPrefixed(0)).collect();
        assert_eq!(nals, [Err(Fault::MalformedNal)]);
        let nals: Vec<_> = NalUnits::new(&[1, 2, 3], NalFraming::LengthPrefixed(5)).collect();
        assert_eq!(nals, [Err(Fault::MalformedNal)]);
    }

    #[test]
    fn writers_round_trip_through_iterators() {
        let units: [&[u8]; 3] = [&[0x09, 0xf0], &[0x06, 0x01, 0x01, 0x80], &[0x65, 0x88]];
        let annex_b = write_annex_b(&units);
        assert!(starts_with_start_code(&annex_b));
        let nals: Vec<_> = NalUnits::new(&annex_b, NalFraming::AnnexB).collect();
        assert_eq!(nals, units.iter().map(|u| Ok(*u)).collect::<Vec<_>>());
    }

    #[test]
    fn peek_does_not_search_for_the_end() {
        let data = [
            0, 0, 1, 0, 0, 0, 1, 0x06, 0x80, 0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 0, 1, 0x09,
        ];
        let mut units = NalUnits::new(&data, NalFraming::AnnexB);
        // The empty NAL unit is skipped by peek too.
        assert_eq!(units.peek_start(), Some(&data[7..]));
        assert_eq!(units.next(), Some(Ok(&[0x06, 0x80][..])));
        let slice = units.peek_start().unwrap();
        assert_eq!(slice, &data[12..]);
        assert_eq!(header_window(slice, 48), &[0x65, 0x88, 0x84]);
        assert_eq!(header_window(slice, 2), &[0x65, 0x88]);
        assert_eq!(units.next(), Some(Ok(&[0x65, 0x88, 0x84][..])));
        assert_eq!(units.next(), Some(Ok(&[0x09][..])));
        assert_eq!(units.peek_start(), None);
        assert_eq!(units.next(), None);

        let data = write_length_prefixed(&[&[0x06, 0x80], &[0x65, 0x88]], 2);
        let mut units = NalUnits::new(&data, NalFraming::LengthPrefixed(2));
        assert_eq!(units.peek_start(), Some(&[0x06, 0x80][..]));
        assert_eq!(units.next(), Some(Ok(&[0x06, 0x80][..])));
        assert_eq!(units.peek_start(), Some(&[0x65, 0x88][..]));
        let mut broken = NalUnits::new(&[0, 9, 1], NalFraming::LengthPrefixed(2));
        assert_eq!(broken.peek_start(), None);
        assert_eq!(broken.next(), Some(Err(Fault::MalformedNal)));
    }

    #[test]
    fn reverse_iteration_stops_at_the_floor() {
        let units: [&[u8]; 4] = [
            &[0x4e, 0x01, 0x80],
            &[0x26, 0x01, 0xaf],
            &[0x50, 0x01, 0x80],
            &[0x50, 0x01, 0x81],
        ];
        let data = write_annex_b(&units);
        let all: Vec<&[u8]> = AnnexBNalUnitsRev::new(&data, 0).collect();
        assert_eq!(all, [units[3], units[2], units[1], units[0]]);
        // From just after the header of the second NAL unit (offset 11): the two after it.
        let tail: Vec<&[u8]> = AnnexBNalUnitsRev::new(&data, 12).collect();
        assert_eq!(tail, [units[3], units[2]]);
        assert_eq!(AnnexBNalUnitsRev::new(&[0, 1], 0).count(), 0);
        assert_eq!(find_last_start_code(&data, 0, data.len()), Some(22));
        assert_eq!(find_last_start_code(&data, 23, data.len()), None);
        assert_eq!(find_last_start_code(&data, 0, 10), Some(1));
    }

    proptest! {
        #[test]
        fn start_code_search_matches_a_naive_one(
            data in proptest::collection::vec(
                prop_oneof![8 => 2u8..=255, 2 => Just(0u8), 1 => Just(1u8)], 0..200),
            from in 0usize..210,
            floor in 0usize..210,
            end in 0usize..210,
        ) {
            let is_start = |i: usize| data.get(i..i + 3) == Some(&[0, 0, 1][..]);
            let naive_next = (from..data.len()).find(|&i| is_start(i));
            prop_assert_eq!(find_start_code(&data, from), naive_next);
            let end_clamped = end.min(data.len());
            let naive_last = (floor..end_clamped.saturating_sub(2))
                .rev()
                .find(|&i| i + 3 <= end_clamped && is_start(i));
            prop_assert_eq!(find_last_start_code(&data, floor, end), naive_last);
        }

        #[test]
        fn reverse_iteration_matches_forward(data in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..256)) {
            let forward: Vec<&[u8]> = AnnexBNalUnits::new(&data).collect();
            let mut backward: Vec<&[u8]> = AnnexBNalUnitsRev::new(&data, 0).collect();
            backward.reverse();
            prop_assert_eq!(forward, backward);
        }

        #[test]
        fn iterators_never_panic(data in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..256), size_len in 0u8..6) {
            for nal in AnnexBNalUnits::new(&data) {
                prop_assert!(!nal.is_empty());
                prop_assert!(*nal.last().unwrap_or(&1) != 0);
            }
            let _ = LengthPrefixedNalUnits::new(&data, size_len).count();
            let mut units = NalUnits::new(&data, NalFraming::AnnexB);
            while let Some(start) = units.peek_start() {
                let _ = header_window(start, 8);
                units.next();
            }
            for floor in [0, 1, data.len() / 2, data.len(), data.len() + 5] {
                let _ = AnnexBNalUnitsRev::new(&data, floor).count();
            }
        }

        #[test]
        fn annex_b_round_trip(units in proptest::collection::vec(
            proptest::collection::vec(1u8..=255, 1..32), 0..8)) {
            // NAL units without zero bytes cannot contain start codes.
            let refs: Vec<&[u8]> = units.iter().map(Vec::as_slice).collect();
            let stream = write_annex_b(&refs);
            let parsed: Vec<&[u8]> = AnnexBNalUnits::new(&stream).collect();
            prop_assert_eq!(parsed, refs);
        }
    }
}
