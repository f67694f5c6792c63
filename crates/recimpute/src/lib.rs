//! recimpute facade (being written).
pub use rec_table as table;
