//! DLRM (Naumov et al., 2019) on libtorch, implementing [`rec_table::Recommender`].
//!
//! Status: this crate is being filled by issue #5; nothing here is implemented yet.
