//! libtorch's one global random generator, shared by every thread of the process: random
//! initialisation and dropout draw from it. A run that seeds it and draws is only
//! reproducible if no other thread reseeds or draws in between, so this crate seeds it only
//! through [`SeededRng`], which holds the workspace's process-wide lock
//! ([`rec_table::hold_global_rng`], also taken by the DLRM) until dropped.

use std::sync::MutexGuard;

/// libtorch's global generator, seeded, held by this thread until dropped.
pub(crate) struct SeededRng {
    _held: MutexGuard<'static, ()>,
}

impl SeededRng {
    /// Waits for the generator, then seeds it with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let held = rec_table::hold_global_rng();
        tch::manual_seed((seed & (i64::MAX as u64)) as i64);
        SeededRng { _held: held }
    }
}
