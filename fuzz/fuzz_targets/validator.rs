// SPDX-License-Identifier: MPL-2.0
//! The validator's readers (HLS playlists, the MPD's timing, the storage index, CMAF
//! segments) on arbitrary bytes: findings, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = lockstep_cli::validate::read_untrusted(data);
    let _ = report.verdict_line();
});
