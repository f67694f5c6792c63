//! One lock for libtorch's global random generator, shared by every crate of the workspace
//! that seeds it (the DLRM's initialisation and dropout, the LoRA trainer's initialisation and
//! dropout). libtorch has one generator per process: a run that seeds it and then draws is
//! only reproducible when no other thread reseeds or draws in between. The lock lives here,
//! in a crate without libtorch that all of them depend on, so that they all take the same one.

use std::sync::{Mutex, MutexGuard, PoisonError};

static GLOBAL_RNG: Mutex<()> = Mutex::new(());

/// Waits until no other thread of this process holds libtorch's global generator and holds it
/// until the guard drops. Seed the generator after taking the guard; do not take it twice on
/// one thread (it is not re-entrant).
///
/// ```
/// let held = rec_table::hold_global_rng();
/// // tch::manual_seed(42); ... draws that must be reproducible ...
/// drop(held);
/// ```
pub fn hold_global_rng() -> MutexGuard<'static, ()> {
    // A thread that panicked while holding it left no state behind: the lock guards no data.
    GLOBAL_RNG.lock().unwrap_or_else(PoisonError::into_inner)
}
