// SPDX-License-Identifier: MPL-2.0
//! RBSP extraction, an Exp-Golomb bit reader and a bit writer.
//!
//! A NAL unit payload is the RBSP with emulation prevention bytes inserted (H.264 7.4.1 /
//! H.265 7.4.2): every `00 00 0x` (x ≤ 3) in the RBSP is sent as `00 00 03 0x`. Readers remove
//! them with [`unescape_rbsp`] into a reusable buffer (borrowing the input when there is
//! nothing to remove, which is the common case for small SEI NAL units) and then read bits with
//! [`BitReader`]. SEI payload sizes count RBSP bytes, so the SEI framing has to see the
//! unescaped data anyway.

use super::ParseError;

/// Returns the RBSP of an escaped NAL unit payload: `escaped` itself when it holds no
/// emulation prevention byte, else the bytes copied into `buf` without them (H.264 7.3.1 /
/// H.265 7.3.1.1: a `03` that follows two zero bytes is discarded, and the zero count restarts
/// after it). `buf` is cleared first and only grows, so a caller that keeps it across NAL units
/// does not allocate in the steady state.
pub fn unescape_rbsp<'a>(escaped: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
    let Some(first) = find_emulation_prevention(escaped, 0) else {
        return escaped;
    };
    buf.clear();
    buf.reserve(escaped.len());
    // `first` is the index of the first 03 to drop; everything before it is copied as is.
    buf.extend_from_slice(&escaped[..first]);
    let mut start = first + 1;
    while let Some(next) = find_emulation_prevention(escaped, start) {
        buf.extend_from_slice(&escaped[start..next]);
        start = next + 1;
    }
    buf.extend_from_slice(&escaped[start..]);
    buf
}

/// Index of the next emulation prevention byte (`03` after `00 00`) at or after `from`, where
/// the two zeros must themselves lie at or after `from` (the byte at `from` follows a dropped
/// `03` or is the first byte, so no zeros before it count).
fn find_emulation_prevention(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    // Look at the third byte of each candidate window: above 03 it can be neither the 03 of a
    // pattern starting at i nor one of the zeros of a pattern starting at i+1 or i+2, so all
    // three starts are skipped at once.
    while i + 2 < data.len() {
        let third = data[i + 2];
        if third > 3 {
            i += 3;
        } else if third == 3 && data[i] == 0 && data[i + 1] == 0 {
            return Some(i + 2);
        } else {
            i += 1;
        }
    }
    None
}

/// Reads bits MSB first from an RBSP (emulation prevention already removed). Every read
/// returns [`ParseError::Truncated`] when the data ends first; nothing panics.
///
/// Bits are served from a 64-bit cache refilled a byte at a time, so a read costs a few
/// instructions whether or not it is near the end of the data.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// The next byte of `data` to load into `cache`.
    next_byte: usize,
    /// Unread bits, left-aligned; the bits below the valid ones are zero.
    cache: u64,
    /// Number of valid bits in `cache`.
    cache_bits: u32,
}

impl<'a> BitReader<'a> {
    /// A reader over `rbsp`, starting at its first bit.
    pub fn new(rbsp: &'a [u8]) -> Self {
        BitReader {
            data: rbsp,
            next_byte: 0,
            cache: 0,
            cache_bits: 0,
        }
    }

    /// The bytes this reader reads from.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bits read so far.
    pub fn position(&self) -> usize {
        self.next_byte * 8 - self.cache_bits as usize
    }

    /// Bits left before the end of the data.
    pub fn bits_left(&self) -> usize {
        (self.data.len() - self.next_byte) * 8 + self.cache_bits as usize
    }

    /// H.264 7.2 byte_aligned().
    pub fn is_byte_aligned(&self) -> bool {
        // next_byte * 8 is a multiple of 8, so the position is aligned iff cache_bits is.
        self.cache_bits.is_multiple_of(8)
    }

    /// Skips to the next byte boundary (no-op when aligned). The skipped bits are not checked.
    pub fn byte_align(&mut self) {
        let partial = self.cache_bits % 8;
        self.cache <<= partial;
        self.cache_bits -= partial;
    }

    /// Loads whole bytes into the cache until it holds more than 56 bits or the data ends.
    #[inline]
    fn refill(&mut self) {
        while self.cache_bits <= 56 {
            let Some(&byte) = self.data.get(self.next_byte) else {
                return;
            };
            self.cache |= u64::from(byte) << (56 - self.cache_bits);
            self.cache_bits += 8;
            self.next_byte += 1;
        }
    }

    /// Drops `n` bits (n ≤ cache_bits) from the cache.
    #[inline]
    fn consume(&mut self, n: u32) {
        // n can be 64 only when cache_bits is 64; a shift by 64 would overflow.
        self.cache = if n >= 64 { 0 } else { self.cache << n };
        self.cache_bits -= n;
    }

    /// u(n): an unsigned value of `n` bits, `n` ≤ 32.
    #[inline]
    pub fn u(&mut self, n: u32) -> Result<u32, ParseError> {
        if n == 0 {
            return Ok(0);
        }
        if n > 32 {
            return Err(ParseError::Invalid("bit count above 32"));
        }
        if self.cache_bits < n {
            self.refill();
            if self.cache_bits < n {
                return Err(ParseError::Truncated);
            }
        }
        // 1 ≤ n ≤ 32, so the shift is in 32..=63 and the value fits in u32.
        let value = (self.cache >> (64 - n)) as u32;
        self.consume(n);
        Ok(value)
    }

    /// u(1) as a flag.
    #[inline]
    pub fn flag(&mut self) -> Result<bool, ParseError> {
        Ok(self.u(1)? == 1)
    }

    /// u(8).
    #[inline]
    pub fn u8(&mut self) -> Result<u8, ParseError> {
        // u(8) is below 256.
        Ok(self.u(8)? as u8)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), ParseError> {
        if self.bits_left() < n {
            return Err(ParseError::Truncated);
        }
        if n <= self.cache_bits as usize {
            self.consume(n as u32);
            return Ok(());
        }
        // Past the cache: restart at the byte holding the target bit.
        let target = self.position() + n;
        self.next_byte = target / 8;
        self.cache = 0;
        self.cache_bits = 0;
        self.u((target % 8) as u32).map(|_| ())
    }

    /// ue(v) (H.264 9.1): Exp-Golomb, up to 2^32 − 2 (31 leading zeros). A longer code is
    /// `Invalid`: no syntax element read here can be that large.
    #[inline]
    pub fn ue(&mut self) -> Result<u32, ParseError> {
        if self.cache_bits < 32 {
            self.refill();
        }
        // The bits below the valid ones are zero, so leading_zeros may count past them.
        let leading_zeros = self.cache.leading_zeros();
        if leading_zeros >= 32 {
            return Err(if self.bits_left() < 33 {
                ParseError::Truncated
            } else {
                ParseError::Invalid("Exp-Golomb code longer than 32 bits")
            });
        }
        if self.bits_left() < 2 * leading_zeros as usize + 1 {
            return Err(ParseError::Truncated);
        }
        // The prefix (zeros and the 1) is within the cache: leading_zeros < cache_bits here,
        // as the cache holds at least 32 bits or all that is left.
        self.consume(leading_zeros + 1);
        let suffix = self.u(leading_zeros)?;
        // leading_zeros ≤ 31, so 2^lz − 1 + (lz bits) ≤ 2^32 − 2 and fits in u32.
        Ok(((1u64 << leading_zeros) - 1 + u64::from(suffix)) as u32)
    }

    /// ue(v) that must not exceed `max`; `what` names the syntax element for the error.
    #[inline]
    pub fn ue_max(&mut self, max: u32, what: &'static str) -> Result<u32, ParseError> {
        let value = self.ue()?;
        if value > max {
            return Err(ParseError::Invalid(what));
        }
        Ok(value)
    }

    /// se(v) (H.264 9.1.1): k ↦ (−1)^(k+1) · Ceil(k ÷ 2).
    #[inline]
    pub fn se(&mut self) -> Result<i32, ParseError> {
        let k = i64::from(self.ue()?);
        let value = if k & 1 == 1 { (k + 1) / 2 } else { -(k / 2) };
        // |value| ≤ 2^31 − 1 because k ≤ 2^32 − 2.
        i32::try_from(value).map_err(|_| ParseError::Invalid("se(v) out of range"))
    }

    /// i(n): a two's complement signed value of `n` bits, `n` ≤ 32.
    #[inline]
    pub fn i(&mut self, n: u32) -> Result<i32, ParseError> {
        let raw = self.u(n)?;
        if n == 0 {
            return Ok(0);
        }
        // Sign-extend: move the sign bit to bit 31, then shift back arithmetically.
        let shift = 32 - n;
        Ok(((raw << shift) as i32) >> shift)
    }

    /// H.264 7.2 more_rbsp_data(): true if there is more data before the rbsp_stop_one_bit
    /// (the last 1 bit of the data; trailing zero bytes, e.g. cabac_zero_words or unstripped
    /// trailing_zero_8bits, are ignored).
    pub fn more_rbsp_data(&self) -> bool {
        match stop_bit_position(self.data) {
            Some(stop) => self.position() < stop,
            None => false,
        }
    }
}

/// Bit position of the rbsp_stop_one_bit: the last 1 bit of `rbsp`, or None if all bits are 0.
pub fn stop_bit_position(rbsp: &[u8]) -> Option<usize> {
    let last = rbsp.iter().rposition(|&b| b != 0)?;
    let byte = rbsp[last];
    Some(last * 8 + 7 - byte.trailing_zeros() as usize)
}

/// Writes bits MSB first: used to build test streams, the benchmark input and element tests.
///
/// The writer does not validate syntax; it writes what it is told. A value that does not fit
/// its bit count is a bug in the caller: it trips a debug assertion, and release builds write
/// the low bits.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits already used in the last byte of `bytes` (0 when byte aligned).
    used_bits_in_last: u32,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// u(n): the low `n` bits of `value`, `n` ≤ 32.
    pub fn u(&mut self, n: u32, value: u32) -> &mut Self {
        debug_assert!(n <= 32, "u(n) with n = {n}");
        debug_assert!(
            n >= 32 || u64::from(value) < (1u64 << n),
            "{value} does not fit in {n} bits"
        );
        for bit in (0..n.min(32)).rev() {
            self.push_bit((value >> bit) & 1 == 1);
        }
        self
    }

    /// u(1).
    pub fn flag(&mut self, value: bool) -> &mut Self {
        self.push_bit(value);
        self
    }

    /// ue(v), any u32 (2^32 − 1 takes 32 leading zeros).
    pub fn ue(&mut self, value: u32) -> &mut Self {
        let code = u64::from(value) + 1;
        let len = 64 - code.leading_zeros();
        for _ in 0..len - 1 {
            self.push_bit(false);
        }
        for bit in (0..len).rev() {
            self.push_bit((code >> bit) & 1 == 1);
        }
        self
    }

    /// se(v).
    pub fn se(&mut self, value: i32) -> &mut Self {
        let v = i64::from(value);
        let k = if v > 0 { 2 * v - 1 } else { -2 * v };
        // k ≤ 2^32, and only i32::MIN gives exactly 2^32, which ue cannot hold.
        debug_assert!(
            k <= i64::from(u32::MAX),
            "se(v) of {value} is not representable"
        );
        self.ue(k.min(i64::from(u32::MAX)) as u32)
    }

    /// i(n): two's complement in `n` bits, `n` ≤ 32.
    pub fn i(&mut self, n: u32, value: i32) -> &mut Self {
        debug_assert!(
            n == 32
                || (n > 0 && {
                    let half = 1i64 << (n - 1);
                    (-half..half).contains(&i64::from(value))
                })
                || (n == 0 && value == 0),
            "{value} does not fit in i({n})"
        );
        let mask = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        self.u(n, (value as u32) & mask)
    }

    /// Whole bytes, without the bits check: a byte string at the current (aligned) position.
    pub fn bytes_aligned(&mut self, data: &[u8]) -> &mut Self {
        for &b in data {
            self.u(8, u32::from(b));
        }
        self
    }

    /// rbsp_trailing_bits(): a 1 bit, then 0 bits up to the byte boundary (H.264 7.3.2.11).
    pub fn rbsp_trailing_bits(&mut self) -> &mut Self {
        self.push_bit(true);
        self.align_with_zeros()
    }

    /// Payload padding of an SEI message that does not end byte aligned (H.264 7.3.2.3.1:
    /// bit_equal_to_one then bit_equal_to_zero); nothing when already aligned.
    pub fn sei_payload_alignment(&mut self) -> &mut Self {
        if !self.is_byte_aligned() {
            self.push_bit(true);
            self.align_with_zeros();
        }
        self
    }

    /// Zero bits up to the next byte boundary.
    pub fn align_with_zeros(&mut self) -> &mut Self {
        while !self.is_byte_aligned() {
            self.push_bit(false);
        }
        self
    }

    pub fn is_byte_aligned(&self) -> bool {
        self.used_bits_in_last == 0
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        if self.used_bits_in_last == 0 {
            self.bytes.len() * 8
        } else {
            (self.bytes.len() - 1) * 8 + self.used_bits_in_last as usize
        }
    }

    /// The bytes written so far; a partial last byte is zero-padded.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes written so far (RBSP); a partial last byte is zero-padded.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The RBSP written so far with emulation prevention bytes inserted, ready to follow a NAL
    /// unit header. Call [`BitWriter::rbsp_trailing_bits`] first.
    pub fn to_nal_payload(&self) -> Vec<u8> {
        escape_rbsp(&self.bytes)
    }

    fn push_bit(&mut self, bit: bool) {
        if self.used_bits_in_last == 0 {
            self.bytes.push(0);
        }
        if bit {
            // `bytes` is non-empty: a byte was pushed above when the last one was full.
            if let Some(last) = self.bytes.last_mut() {
                *last |= 0x80 >> self.used_bits_in_last;
            }
        }
        self.used_bits_in_last = (self.used_bits_in_last + 1) % 8;
    }
}

/// Inserts emulation prevention bytes (H.264 7.4.1): a `03` before any byte ≤ `03` that follows
/// two zero bytes, and after a final `00` (so the payload cannot end in a zero byte, which
/// would read as trailing_zero_8bits).
pub fn escape_rbsp(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    if out.last() == Some(&0) {
        out.push(3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_fixed_width_values_across_bytes() {
        let data = [
            0b1010_1100,
            0b0101_0011,
            0xff,
            0x00,
            0x12,
            0x34,
            0x56,
            0x78,
            0x9a,
        ];
        let mut r = BitReader::new(&data);
        assert_eq!(r.u(1), Ok(1));
        assert_eq!(r.u(3), Ok(0b010));
        assert_eq!(r.u(8), Ok(0b1100_0101));
        assert_eq!(r.u(4), Ok(0b0011));
        assert_eq!(r.u(32), Ok(0xff00_1234));
        assert_eq!(r.u(0), Ok(0));
        assert_eq!(r.u(24), Ok(0x56789a));
        assert_eq!(r.u(1), Err(ParseError::Truncated));
        assert_eq!(r.u(33), Err(ParseError::Invalid("bit count above 32")));
    }

    #[test]
    fn exp_golomb_codes() {
        let mut w = BitWriter::new();
        let values = [0u32, 1, 2, 3, 7, 8, 254, 255, 65535, 1 << 20, u32::MAX - 1];
        for &v in &values {
            w.ue(v);
        }
        let signed = [0i32, 1, -1, 2, -2, 127, -128, i32::MAX, -i32::MAX];
        for &v in &signed {
            w.se(v);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for &v in &values {
            assert_eq!(r.ue(), Ok(v));
        }
        for &v in &signed {
            assert_eq!(r.se(), Ok(v));
        }
        // The known bit patterns of H.264 Table 9-2.
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0011, 0b1000_0000]);
        assert_eq!(r.ue(), Ok(0)); // 1
        assert_eq!(r.ue(), Ok(1)); // 010
        assert_eq!(r.ue(), Ok(2)); // 011
        assert_eq!(r.ue(), Ok(3)); // 00100
        assert_eq!(r.ue(), Ok(6)); // 00111 — then 7 zero bits
        assert_eq!(r.ue(), Err(ParseError::Truncated));
    }

    #[test]
    fn exp_golomb_longer_than_32_bits_is_invalid() {
        let mut data = vec![0u8; 8];
        data.push(0xff);
        assert_eq!(
            BitReader::new(&data).ue(),
            Err(ParseError::Invalid("Exp-Golomb code longer than 32 bits"))
        );
        assert_eq!(BitReader::new(&[0, 0, 0]).ue(), Err(ParseError::Truncated));
        // 2^32 − 1 needs 32 leading zeros: the writer can write it, the reader refuses it.
        let mut w = BitWriter::new();
        w.ue(u32::MAX).rbsp_trailing_bits();
        assert!(BitReader::new(w.as_bytes()).ue().is_err());
    }

    #[test]
    fn signed_fixed_width() {
        let mut w = BitWriter::new();
        w.i(24, -1)
            .i(24, 0x7f_ffff)
            .i(24, -0x80_0000)
            .i(5, -16)
            .i(32, i32::MIN)
            .i(1, -1);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.i(24), Ok(-1));
        assert_eq!(r.i(24), Ok(0x7f_ffff));
        assert_eq!(r.i(24), Ok(-0x80_0000));
        assert_eq!(r.i(5), Ok(-16));
        assert_eq!(r.i(32), Ok(i32::MIN));
        assert_eq!(r.i(1), Ok(-1));
        assert_eq!(r.i(0), Ok(0));
    }

    #[test]
    fn more_rbsp_data_and_alignment() {
        // 1 bit of data, then the stop bit, then a zero byte (cabac_zero_word-like).
        let data = [0b1100_0000, 0x00];
        let mut r = BitReader::new(&data);
        assert!(r.more_rbsp_data());
        assert_eq!(r.u(1), Ok(1));
        assert!(!r.more_rbsp_data());
        assert!(!r.is_byte_aligned());
        r.byte_align();
        assert!(r.is_byte_aligned());
        assert_eq!(r.position(), 8);
        assert!(!BitReader::new(&[0, 0]).more_rbsp_data());
        assert!(!BitReader::new(&[]).more_rbsp_data());
        assert_eq!(stop_bit_position(&[0x12, 0x80, 0]), Some(8));
        assert_eq!(stop_bit_position(&[0x01]), Some(7));
    }

    #[test]
    fn unescape_removes_only_emulation_prevention() {
        let mut buf = Vec::new();
        let plain = [0x00, 0x00, 0x04, 0x00, 0x03];
        assert!(std::ptr::eq(unescape_rbsp(&plain, &mut buf), &plain[..]));
        let escaped = [
            0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x03, 0x05,
        ];
        assert_eq!(
            unescape_rbsp(&escaped, &mut buf),
            &[0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x05]
        );
        // A 03 after a dropped 03 and a single zero is data.
        let escaped = [0x00, 0x00, 0x03, 0x00, 0x03];
        assert_eq!(unescape_rbsp(&escaped, &mut buf), &[0x00, 0x00, 0x00, 0x03]);
        // The final 00 00 03 (cabac_zero_word style) loses its 03.
        assert_eq!(
            unescape_rbsp(&[0x80, 0x00, 0x00, 0x03], &mut buf),
            &[0x80, 0, 0]
        );
    }

    #[test]
    fn writer_escapes_start_code_prefixes() {
        let mut w = BitWriter::new();
        w.bytes_aligned(&[
            0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00,
        ])
        .rbsp_trailing_bits();
        let payload = w.to_nal_payload();
        assert_eq!(
            payload,
            [
                0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x02, 0x00, 0x00,
                0x80
            ]
        );
        let mut buf = Vec::new();
        assert_eq!(unescape_rbsp(&payload, &mut buf), w.as_bytes());
        assert_eq!(escape_rbsp(&[0x12, 0x00]), [0x12, 0x00, 0x03]);
    }

    #[test]
    fn writer_bit_length_and_alignment() {
        let mut w = BitWriter::new();
        assert!(w.is_byte_aligned());
        w.u(3, 5);
        assert_eq!(w.bit_len(), 3);
        w.sei_payload_alignment();
        assert_eq!(w.as_bytes(), &[0b1011_0000]);
        w.sei_payload_alignment();
        assert_eq!(w.bit_len(), 8);
        w.flag(true).rbsp_trailing_bits();
        assert_eq!(w.as_bytes(), &[0b1011_0000, 0b1100_0000]);
    }

    proptest! {
        #[test]
        fn escape_unescape_round_trip(rbsp in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(3u8), any::<u8>()], 0..64)) {
            let escaped = escape_rbsp(&rbsp);
            // No start code prefix survives escaping.
            prop_assert!(!escaped.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
            let mut buf = Vec::new();
            let mut expected = rbsp.clone();
            // A final 00 got a 03 appended, which unescaping drops again.
            let back = unescape_rbsp(&escaped, &mut buf).to_vec();
            if expected.last() == Some(&0) && !escaped.ends_with(&[0, 0, 3]) {
                expected.push(3);
            }
            prop_assert_eq!(back, expected);
        }

        #[test]
        fn written_values_read_back(values in proptest::collection::vec(
            (0u32..=32, any::<u32>(), any::<u32>(), any::<i32>()), 0..32)) {
            let mut w = BitWriter::new();
            for &(n, raw, ue, se) in &values {
                let masked = if n == 32 { raw } else { raw & ((1u32 << n) - 1) };
                w.u(n, masked).ue(ue.min(u32::MAX - 1)).se(se.max(-i32::MAX));
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            for &(n, raw, ue, se) in &values {
                let masked = if n == 32 { raw } else { raw & ((1u32 << n) - 1) };
                prop_assert_eq!(r.u(n), Ok(masked));
                prop_assert_eq!(r.ue(), Ok(ue.min(u32::MAX - 1)));
                prop_assert_eq!(r.se(), Ok(se.max(-i32::MAX)));
            }
        }

        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..24),
                               ops in proptest::collection::vec((0u8..6, 0u32..=40), 0..64)) {
            let mut r = BitReader::new(&data);
            for (op, n) in ops {
                let _ = match op {
                    0 => r.u(n).map(|_| ()),
                    1 => r.ue().map(|_| ()),
                    2 => r.se().map(|_| ()),
                    3 => r.i(n).map(|_| ()),
                    4 => { r.byte_align(); Ok(()) }
                    _ => r.skip(n as usize),
                };
                let _ = r.more_rbsp_data();
            }
        }
    }
}
