//! Properties of missingness injection.

// Index loops over rows read more plainly than zipped iterators in these checks.
#![allow(clippy::needless_range_loop)]

use proptest::prelude::*;
use rec_datasets::missingness::{inject, Mechanism, MissingnessConfig, Scope};
use rec_datasets::synthetic::{adclick_like, correlated_gaussians, mixed};
use rec_table::{Cell, Table};

/// Mean of the masked and of the kept observed values of numeric column `col`.
fn masked_vs_kept(before: &Table, after: &Table, col: usize) -> (f64, f64) {
    let (mut m, mut nm, mut k, mut nk) = (0.0, 0.0, 0.0, 0.0);
    for r in 0..before.num_rows() {
        let Some(v) = before.value(r, col).and_then(|v| v.as_f64()) else { continue };
        if after.is_missing(r, col) {
            m += v;
            nm += 1.0;
        } else {
            k += v;
            nk += 1.0;
        }
    }
    (m / nm, k / nk)
}

fn config(mech: u8, rate: f64, seed: u64) -> MissingnessConfig {
    match mech {
        0 => MissingnessConfig::mcar(rate, seed),
        1 => MissingnessConfig::mar(rate, seed),
        _ => MissingnessConfig::mnar(rate, seed),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rate_holes_and_observed_cells(mech in 0u8..3, rate in 0.02f64..0.6, seed in any::<u64>(), wide in any::<bool>()) {
        let table = adclick_like(2_000, seed ^ 1).unwrap();
        // Pre-existing holes are not counted: start from a table with 10% MCAR holes.
        let base = inject(&table, &MissingnessConfig::mcar(0.1, seed).with_exclude(["click"])).unwrap().table;
        let scope = if wide { Scope::TableWide } else { Scope::PerColumn };
        let cfg = config(mech, rate, seed).with_exclude(["click"]).with_scope(scope);
        let out = inject(&base, &cfg).unwrap();

        // The rate is measured on the cells observed before injection.
        let eligible: Vec<usize> = (0..6).filter(|&j| !(mech == 1 && j == 0)).collect(); // MAR drives by age
        let observed: usize = eligible.iter().map(|&j| base.num_rows() - base.missing_per_column()[j]).sum();
        let realised = out.mask.len() as f64 / observed as f64;
        prop_assert!((realised - rate).abs() < 0.03, "rate {rate} realised {realised}");

        // Every hole was observed before, its truth is the old value; nothing else changed.
        for (cell, truth) in out.mask.entries() {
            prop_assert_eq!(base.value(cell.row, cell.col), Some(truth.clone()));
            prop_assert!(out.table.is_missing(cell.row, cell.col));
        }
        for r in 0..base.num_rows() {
            for c in 0..base.num_columns() {
                if out.mask.truth(Cell { row: r, col: c }).is_none() {
                    prop_assert_eq!(base.value(r, c), out.table.value(r, c));
                }
            }
        }
        prop_assert!(out.mask.per_column(7)[6] == 0, "the target is never masked");
        if mech == 1 {
            prop_assert!(out.mask.per_column(7)[0] == 0, "the MAR driver is never masked");
        }

        // Same seed, same holes.
        prop_assert_eq!(inject(&base, &cfg).unwrap(), out);
    }
}

#[test]
fn mcar_is_independent_of_values_mnar_is_not() {
    let table = correlated_gaussians(20_000, 2, 0.5, 3).unwrap();
    let mcar = inject(&table, &MissingnessConfig::mcar(0.3, 1)).unwrap();
    let mnar = inject(&table, &MissingnessConfig::mnar(0.3, 1)).unwrap();
    // Standard normals: the standard error of a difference of means here is about 0.016.
    let (m, k) = masked_vs_kept(&table, &mcar.table, 0);
    assert!((m - k).abs() < 0.06, "MCAR masked mean {m} vs kept {k}");
    let (m, k) = masked_vs_kept(&table, &mnar.table, 0);
    assert!(m - k > 0.8, "MNAR hides high values: masked mean {m} vs kept {k}");
}

#[test]
fn mar_depends_on_the_driver_not_on_the_value_given_it() {
    let table = correlated_gaussians(20_000, 3, 0.0, 5).unwrap();
    let cfg = MissingnessConfig::new(Mechanism::Mar { driver: Some("x0".into()), strength: 2.0 }, 0.3, 2);
    let out = inject(&table, &cfg).unwrap();
    assert_eq!(out.mask.per_column(3)[0], 0);
    // Rows with a masked x1 have a high driver x0 ...
    let x0 = table.numeric("x0").unwrap();
    let (mut hi, mut n) = (0.0, 0.0);
    for r in 0..table.num_rows() {
        if out.table.is_missing(r, 1) {
            hi += x0[r].unwrap();
            n += 1.0;
        }
    }
    assert!(hi / n > 0.8, "mean driver of masked rows {}", hi / n);
    // ... while x1 itself, independent of x0, is masked regardless of its value.
    let (m, k) = masked_vs_kept(&table, &out.table, 1);
    assert!((m - k).abs() < 0.06, "{m} vs {k}");
}

#[test]
fn mnar_on_every_kind_and_scopes() {
    let table = mixed(3_000, 4).unwrap();
    for scope in [Scope::PerColumn, Scope::TableWide] {
        let out = inject(&table, &MissingnessConfig::mnar(0.25, 9).with_scope(scope)).unwrap();
        let per = out.mask.per_column(6);
        assert_eq!(per[0], 0, "ids are never masked");
        let total: usize = per.iter().sum();
        assert!((total as f64 / 15_000.0 - 0.25).abs() < 0.02, "{per:?}");
        if scope == Scope::PerColumn {
            for &n in &per[1..] {
                assert!((n as f64 / 3_000.0 - 0.25).abs() < 0.04, "{per:?}");
            }
        }
    }
    // Set-valued MNAR hides larger sets more.
    let out = inject(&table, &MissingnessConfig::mnar(0.3, 1).with_columns(["genres"])).unwrap();
    let size = |r: usize| table.value(r, 3).unwrap().as_set().unwrap().len() as f64;
    let (mut m, mut nm, mut k, mut nk) = (0.0, 0.0, 0.0, 0.0);
    for r in 0..table.num_rows() {
        if out.table.is_missing(r, 3) {
            m += size(r);
            nm += 1.0
        } else {
            k += size(r);
            nk += 1.0
        }
    }
    assert!(m / nm > k / nk + 0.3);
}

#[test]
fn bad_configs_are_errors() {
    let table = mixed(50, 1).unwrap();
    assert!(inject(&table, &MissingnessConfig::mcar(1.5, 1)).is_err());
    let e = inject(&table, &MissingnessConfig::mcar(0.1, 1).with_columns(["user_id"])).unwrap_err();
    assert!(e.to_string().contains("user_id"), "{e}");
    let e = inject(&table, &MissingnessConfig::mcar(0.1, 1).with_exclude(["nope"])).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e = inject(&table, &MissingnessConfig::mar(0.1, 1).with_driver("age").with_columns(["age"])).unwrap_err();
    assert!(e.to_string().contains("driver"), "{e}");
    // Rates 0 and 1.
    assert!(inject(&table, &MissingnessConfig::mnar(0.0, 1)).unwrap().mask.is_empty());
    assert_eq!(inject(&table, &MissingnessConfig::mar(1.0, 1)).unwrap().mask.len(), 50 * 4);
}
