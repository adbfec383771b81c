// SPDX-License-Identifier: MPL-2.0
//! SEI message framing (H.264 7.3.2.3 / H.265 7.3.5, identical in both) and the clock
//! timestamp fields H.264 pic_timing and H.265 time_code share.

use super::bits::{BitReader, BitWriter, escape_rbsp, stop_bit_position};
use super::{ClockTimestamp, ParseError};

/// One SEI message: its payloadType and its payload bytes (RBSP, as counted by payloadSize).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeiMessage<'a> {
    pub payload_type: u32,
    pub payload: &'a [u8],
}

/// The messages of an SEI RBSP (the NAL unit payload after the header, emulation prevention
/// removed). H.264 7.3.2.3.1: payloadType and payloadSize are each a run of `FF` bytes plus a
/// last byte, summed; messages follow each other until more_rbsp_data() is false, i.e. until
/// the byte holding the rbsp_stop_one_bit.
///
/// A framing error (a type or size cut off, or a payloadSize past the end of the data) yields
/// one `Err` and ends the iteration; the messages before it were already yielded, so a
/// malformed tail does not cost the messages in front of it. A payload may run into the byte
/// with the stop bit (the trailing bits are missing then), which is tolerated.
#[derive(Debug, Clone)]
pub struct SeiMessages<'a> {
    rbsp: &'a [u8],
    pos: usize,
    /// Bit position of the rbsp_stop_one_bit (None: no 1 bit at all, so no messages).
    stop_bit: Option<usize>,
    done: bool,
}

impl<'a> SeiMessages<'a> {
    pub fn new(rbsp: &'a [u8]) -> Self {
        SeiMessages {
            rbsp,
            pos: 0,
            stop_bit: stop_bit_position(rbsp),
            done: false,
        }
    }

    /// payloadType / payloadSize coding: `ff`* then a last byte below `ff`.
    fn read_ff_coded(&mut self) -> Result<u32, ParseError> {
        let mut value: u32 = 0;
        loop {
            let byte = *self.rbsp.get(self.pos).ok_or(ParseError::Truncated)?;
            self.pos += 1;
            // At most 255 per input byte: overflow needs a 16 MiB run of ff, reject it anyway.
            value = value
                .checked_add(u32::from(byte))
                .ok_or(ParseError::Invalid("SEI payloadType/payloadSize"))?;
            if byte != 0xff {
                return Ok(value);
            }
        }
    }

    fn read_message(&mut self) -> Result<SeiMessage<'a>, ParseError> {
        let payload_type = self.read_ff_coded()?;
        let payload_size = self.read_ff_coded()? as usize;
        let end = self
            .pos
            .checked_add(payload_size)
            .ok_or(ParseError::Truncated)?;
        let payload = self.rbsp.get(self.pos..end).ok_or(ParseError::Truncated)?;
        self.pos = end;
        Ok(SeiMessage {
            payload_type,
            payload,
        })
    }
}

impl<'a> Iterator for SeiMessages<'a> {
    type Item = Result<SeiMessage<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // more_rbsp_data(): a message starts only before the byte of the stop bit.
        match self.stop_bit {
            Some(stop) if self.pos * 8 < stop => {}
            _ => {
                self.done = true;
                return None;
            }
        }
        let message = self.read_message();
        if message.is_err() {
            self.done = true;
        }
        Some(message)
    }
}

/// The RBSP of an SEI NAL unit holding `messages` (payloadType, payload), with
/// rbsp_trailing_bits, without the NAL unit header and without emulation prevention.
pub fn write_sei_rbsp(messages: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|(_, p)| p.len() + 4).sum::<usize>() + 1);
    for &(payload_type, payload) in messages {
        write_ff_coded(&mut out, payload_type);
        write_ff_coded(&mut out, payload.len() as u32);
        out.extend_from_slice(payload);
    }
    out.push(0x80);
    out
}

/// A whole SEI NAL unit: `header` (1 byte for H.264, 2 for H.265) followed by the escaped RBSP
/// of `messages`.
pub fn write_sei_nal(header: &[u8], messages: &[(u32, &[u8])]) -> Vec<u8> {
    let mut nal = header.to_vec();
    nal.extend_from_slice(&escape_rbsp(&write_sei_rbsp(messages)));
    nal
}

fn write_ff_coded(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0xff {
        out.push(0xff);
        value -= 0xff;
    }
    out.push(value as u8);
}

/// The time-of-day part of a clock timestamp (H.264 D.1.3 / H.265 D.2.27): with
/// full_timestamp_flag all three values, else the nested seconds_flag → minutes_flag →
/// hours_flag form. Values out of range (D.2.3: seconds and minutes 0..59, hours 0..23) are
/// `Invalid`.
pub(crate) fn read_time_of_day(
    r: &mut BitReader<'_>,
    clock: &mut ClockTimestamp,
) -> Result<(), ParseError> {
    if clock.full_timestamp {
        clock.seconds = Some(r.u(6)? as u8);
        clock.minutes = Some(r.u(6)? as u8);
        clock.hours = Some(r.u(5)? as u8);
    } else if r.flag()? {
        clock.seconds = Some(r.u(6)? as u8);
        if r.flag()? {
            clock.minutes = Some(r.u(6)? as u8);
            if r.flag()? {
                clock.hours = Some(r.u(5)? as u8);
            }
        }
    }
    if clock.seconds.is_some_and(|s| s > 59) {
        return Err(ParseError::Invalid("seconds_value"));
    }
    if clock.minutes.is_some_and(|m| m > 59) {
        return Err(ParseError::Invalid("minutes_value"));
    }
    if clock.hours.is_some_and(|h| h > 23) {
        return Err(ParseError::Invalid("hours_value"));
    }
    Ok(())
}

/// Writes the time-of-day part of `clock` as [`read_time_of_day`] reads it. With
/// `full_timestamp` all three values are written (absent ones as 0). Without it the nested form
/// carries what is present, cut at the first absent field (the syntax cannot carry minutes
/// without seconds).
pub(crate) fn write_time_of_day(w: &mut BitWriter, clock: &ClockTimestamp) {
    if clock.full_timestamp {
        w.u(6, u32::from(clock.seconds.unwrap_or(0)));
        w.u(6, u32::from(clock.minutes.unwrap_or(0)));
        w.u(5, u32::from(clock.hours.unwrap_or(0)));
        return;
    }
    w.flag(clock.seconds.is_some());
    let Some(seconds) = clock.seconds else { return };
    w.u(6, u32::from(seconds));
    w.flag(clock.minutes.is_some());
    let Some(minutes) = clock.minutes else { return };
    w.u(6, u32::from(minutes));
    w.flag(clock.hours.is_some());
    if let Some(hours) = clock.hours {
        w.u(5, u32::from(hours));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::bits::unescape_rbsp;
    use proptest::prelude::*;

    #[test]
    fn several_messages_and_large_type_and_size() {
        let big = vec![0x5a; 300];
        let rbsp = write_sei_rbsp(&[(5, &[1, 2, 3]), (300, &big), (1, &[0x42])]);
        // 300 = ff 2d, for both the type and the size.
        assert_eq!(&rbsp[5..9], &[0xff, 0x2d, 0xff, 0x2d]);
        let messages: Vec<_> = SeiMessages::new(&rbsp).collect();
        assert_eq!(
            messages,
            [
                Ok(SeiMessage {
                    payload_type: 5,
                    payload: &[1, 2, 3]
                }),
                Ok(SeiMessage {
                    payload_type: 300,
                    payload: &big
                }),
                Ok(SeiMessage {
                    payload_type: 1,
                    payload: &[0x42]
                }),
            ]
        );
    }

    #[test]
    fn stops_at_trailing_bits_and_ignores_trailing_zeros() {
        let messages: Vec<_> = SeiMessages::new(&[0x01, 0x01, 0x80, 0x80, 0x00, 0x00]).collect();
        assert_eq!(
            messages,
            [Ok(SeiMessage {
                payload_type: 1,
                payload: &[0x80]
            })]
        );
        assert_eq!(SeiMessages::new(&[0x80]).count(), 0);
        assert_eq!(SeiMessages::new(&[]).count(), 0);
        assert_eq!(SeiMessages::new(&[0, 0]).count(), 0);
    }

    #[test]
    fn overrun_keeps_the_messages_before_it() {
        // The tail of the GStreamer 1.22.0 h264parse bug: `80 04 80` after a good message.
        let rbsp = [0x01, 0x02, 0xaa, 0xbb, 0x80, 0x04, 0x80];
        let messages: Vec<_> = SeiMessages::new(&rbsp).collect();
        assert_eq!(
            messages,
            [
                Ok(SeiMessage {
                    payload_type: 1,
                    payload: &[0xaa, 0xbb]
                }),
                Err(ParseError::Truncated)
            ]
        );
        // A size cut off in its ff run.
        let messages: Vec<_> = SeiMessages::new(&[0x05, 0xff, 0xff]).collect();
        assert_eq!(messages, [Err(ParseError::Truncated)]);
    }

    #[test]
    fn payload_with_start_code_prefix_is_escaped_in_the_nal() {
        let payload = [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03];
        let nal = write_sei_nal(&[0x06], &[(5, &payload)]);
        assert_eq!(
            nal,
            [
                0x06, 0x05, 0x07, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x03, 0x80
            ]
        );
        let mut buf = Vec::new();
        let rbsp = unescape_rbsp(&nal[1..], &mut buf);
        let messages: Vec<_> = SeiMessages::new(rbsp).collect();
        assert_eq!(
            messages,
            [Ok(SeiMessage {
                payload_type: 5,
                payload: &payload
            })]
        );
    }

    #[test]
    fn time_of_day_forms() {
        let forms = [
            (true, Some(1), Some(2), Some(3)),
            (false, None, None, None),
            (false, Some(59), None, None),
            (false, Some(0), Some(59), None),
            (false, Some(7), Some(8), Some(23)),
        ];
        for (full, seconds, minutes, hours) in forms {
            let clock = ClockTimestamp {
                full_timestamp: full,
                seconds,
                minutes,
                hours,
                ..Default::default()
            };
            let mut w = BitWriter::new();
            write_time_of_day(&mut w, &clock);
            w.rbsp_trailing_bits();
            let mut read = ClockTimestamp {
                full_timestamp: full,
                ..Default::default()
            };
            read_time_of_day(&mut BitReader::new(w.as_bytes()), &mut read).unwrap();
            assert_eq!(read, clock);
        }
        let mut w = BitWriter::new();
        w.u(6, 60).u(6, 0).u(5, 0).u(8, 0);
        let mut clock = ClockTimestamp {
            full_timestamp: true,
            ..Default::default()
        };
        assert_eq!(
            read_time_of_day(&mut BitReader::new(w.as_bytes()), &mut clock),
            Err(ParseError::Invalid("seconds_value"))
        );
    }

    proptest! {
        #[test]
        fn never_panics(rbsp in proptest::collection::vec(
            prop_oneof![Just(0xffu8), Just(0x80u8), any::<u8>()], 0..64)) {
            for m in SeiMessages::new(&rbsp).flatten() {
                prop_assert!(m.payload.len() <= rbsp.len());
            }
        }

        #[test]
        fn framing_round_trip(messages in proptest::collection::vec(
            (0u32..1000, proptest::collection::vec(any::<u8>(), 0..600)), 0..4)) {
            let refs: Vec<(u32, &[u8])> =
                messages.iter().map(|(t, p)| (*t, p.as_slice())).collect();
            let rbsp = write_sei_rbsp(&refs);
            let parsed = SeiMessages::new(&rbsp).collect::<Result<Vec<_>, _>>().unwrap();
            let parsed: Vec<(u32, &[u8])> =
                parsed.iter().map(|m| (m.payload_type, m.payload)).collect();
            prop_assert_eq!(parsed, refs);
        }
    }
}
