// SPDX-License-Identifier: MPL-2.0
//! What every element's glue shares.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the data when a panic elsewhere poisoned it: the elements keep no
/// invariant a half-finished update could break that a poisoned lock would protect, and one
/// panicking call (caught at the pad function) must not take every streaming thread down.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
