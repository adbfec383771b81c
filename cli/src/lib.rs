// SPDX-License-Identifier: MPL-2.0
//! The `lockstep` program: `live` runs a redundant channel in one command, `validate` checks an
//! output directory (and whether two redundant outputs are interchangeable).

pub mod live;
pub mod validate;
