//! Behaviour of every imputer: observed cells never change (property test), the documented
//! edge cases (columns missing at fit, unseen labels, constant columns), schema checks and
//! serde of parameters.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use imputers_baseline::{
    CaseDeletion, DeletionMode, FittedClassical, ForestParams, IterativeImputer, KnnImputer, KnnWeights,
    MissForestImputer, SimpleImputer,
};
use proptest::prelude::*;
use rec_table::{ColumnKind, ColumnSpec, DynImputer, Schema, Table, Value};

fn schema() -> Schema {
    Schema::try_new(vec![
        ColumnSpec::new("id", ColumnKind::Id),
        ColumnSpec::new("a", ColumnKind::Numeric),
        ColumnSpec::new("b", ColumnKind::Numeric),
        ColumnSpec::new("c", ColumnKind::Categorical),
        ColumnSpec::new("s", ColumnKind::SetValued),
        ColumnSpec::new("t", ColumnKind::Text),
    ])
    .unwrap()
}

/// Every imputer of the crate, small settings.
fn imputers() -> Vec<Box<dyn DynImputer>> {
    let small_forest = ForestParams { n_trees: 4, ..ForestParams::default() };
    vec![
        Box::new(CaseDeletion::new()),
        Box::new(CaseDeletion::new().with_mode(DeletionMode::KeepRows)),
        Box::new(SimpleImputer::mean()),
        Box::new(SimpleImputer::median()),
        Box::new(SimpleImputer::mode()),
        Box::new(SimpleImputer::zero()),
        Box::new(KnnImputer::new(3)),
        Box::new(KnnImputer::new(2).with_weights(KnnWeights::Distance)),
        Box::new(IterativeImputer::new().with_max_iter(3)),
        Box::new(
            IterativeImputer::new()
                .with_max_iter(2)
                .with_label_model(imputers_baseline::LabelModel::OneHotRegression)
                .with_numeric_model(imputers_baseline::NumericModel::Ridge { alpha: 1.0 }),
        ),
        Box::new(MissForestImputer::new().with_forest(small_forest).with_max_iter(2)),
    ]
}

type Row = (f64, f64, u8, Vec<u8>, [bool; 5]);

fn table_from(rows: &[Row]) -> Table {
    let labels = ["x", "y", "z"];
    let tags = ["p", "q", "r", "s"];
    let data = rows
        .iter()
        .enumerate()
        .map(|(i, (a, b, c, s, holes))| {
            let mut set: Vec<String> = s.iter().map(|&e| tags[e as usize % 4].to_string()).collect();
            set.sort();
            set.dedup();
            vec![
                (!holes[4]).then(|| Value::Category(format!("u{i}"))),
                (!holes[0]).then_some(Value::Number(*a)),
                (!holes[1]).then_some(Value::Number(*b)),
                (!holes[2]).then(|| Value::Category(labels[*c as usize % 3].into())),
                (!holes[3]).then_some(Value::Set(set)),
                (i % 3 != 0).then(|| Value::Text(format!("note {i}"))),
            ]
        })
        .collect();
    Table::from_rows(schema(), data).unwrap()
}

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        -50.0..50.0f64,
        -5.0..5.0f64,
        0u8..3,
        proptest::collection::vec(0u8..4, 0..3),
        proptest::array::uniform5(proptest::bool::weighted(0.3)),
    )
}

/// Checks that `out` keeps every observed cell of `input`, at the rows `kept`.
fn check_observed_kept(input: &Table, out: &Table, kept: &[usize], name: &str) {
    assert_eq!(out.num_rows(), kept.len(), "{name}");
    for (i, &r) in kept.iter().enumerate() {
        for c in 0..input.num_columns() {
            if let Some(v) = input.value(r, c) {
                assert_eq!(out.value(i, c), Some(v), "{name}: row {r} column {c} changed");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn observed_cells_never_change(
        train in proptest::collection::vec(row_strategy(), 3..30),
        test in proptest::collection::vec(row_strategy(), 1..10),
    ) {
        let (train, test) = (table_from(&train), table_from(&test));
        for imputer in imputers() {
            let name = imputer.name();
            let fitted = imputer.fit_boxed(&train).unwrap();
            for input in [&train, &test] {
                let out = fitted.transform(input).unwrap();
                let kept: Vec<usize> = if name == "case_deletion" {
                    (0..input.num_rows()).filter(|&r| (0..input.num_columns()).all(|c| !input.is_missing(r, c))).collect()
                } else {
                    (0..input.num_rows()).collect()
                };
                check_observed_kept(input, &out, &kept, &name);
                if name.starts_with("case_deletion") {
                    continue;
                }
                // Id and text columns are left as they are; features observed at fit are filled.
                for r in 0..input.num_rows() {
                    prop_assert_eq!(out.is_missing(r, 0), input.is_missing(r, 0));
                    prop_assert_eq!(out.is_missing(r, 5), input.is_missing(r, 5));
                    for c in 1..5 {
                        let learnable = (0..train.num_rows()).any(|t| !train.is_missing(t, c));
                        if learnable || name == "zero" {
                            prop_assert!(!out.is_missing(r, c), "{}: ({}, {}) left missing", name, r, c);
                        }
                    }
                }
            }
        }
    }
}

fn rows_for_edge_cases() -> Table {
    let rows: Vec<Row> = (0..20)
        .map(|i| {
            let holes = [i % 4 == 0, i % 5 == 1, i % 6 == 2, i % 7 == 3, false];
            (i as f64, 2.0 * i as f64 + 1.0, (i % 3) as u8, vec![(i % 4) as u8], holes)
        })
        .collect();
    table_from(&rows)
}

#[test]
fn a_column_missing_at_fit_is_left_missing() {
    let t = rows_for_edge_cases().drop_columns(&["b"]).unwrap();
    let empty: Vec<Option<Value>> = vec![None; t.num_rows()];
    let t = t.with_column(ColumnSpec::new("b", ColumnKind::Numeric), &empty).unwrap();
    let b = t.schema().index_of("b").unwrap();
    for imputer in imputers().into_iter().filter(|i| !i.name().starts_with("case_deletion")) {
        let out = imputer.fit_boxed(&t).unwrap().transform(&t).unwrap();
        let name = imputer.name();
        if name == "zero" {
            assert_eq!(out.value(0, b), Some(Value::Number(0.0)), "{name}");
        } else {
            assert!((0..t.num_rows()).all(|r| out.is_missing(r, b)), "{name}");
            let a = t.schema().index_of("a").unwrap();
            assert!((0..t.num_rows()).all(|r| !out.is_missing(r, a)), "{name}");
        }
    }
}

#[test]
fn unseen_labels_and_elements_are_accepted() {
    let train = rows_for_edge_cases();
    let test = Table::from_rows(
        schema(),
        vec![
            vec![None, None, Some(Value::Number(1.0)), Some(Value::Category("never-seen".into())), None, None],
            vec![None, Some(Value::Number(3.0)), None, None, Some(Value::Set(vec!["new".into(), "p".into()])), None],
        ],
    )
    .unwrap();
    for imputer in imputers() {
        let out = imputer.fit_boxed(&train).unwrap().transform(&test).unwrap();
        if !imputer.name().starts_with("case_deletion") {
            assert_eq!(out.value(0, 3), Some(Value::Category("never-seen".into())));
            assert_eq!(out.missing_cells().filter(|c| (1..5).contains(&c.col)).count(), 0, "{}", imputer.name());
        }
    }
}

#[test]
fn constant_columns_are_harmless() {
    let rows: Vec<Row> =
        (0..15).map(|i| (7.0, i as f64, 0, vec![1], [i % 3 == 0, i % 4 == 1, false, false, false])).collect();
    let t = table_from(&rows);
    for imputer in imputers().into_iter().filter(|i| !i.name().starts_with("case_deletion")) {
        let out = imputer.fit_boxed(&t).unwrap().transform(&t).unwrap();
        for r in 0..t.num_rows() {
            let a = out.value(r, 1).and_then(|v| v.as_f64()).unwrap();
            assert!(a.is_finite(), "{}", imputer.name());
            if imputer.name() != "zero" {
                assert!((a - 7.0).abs() < 1e-6, "{}: {a}", imputer.name());
            }
        }
    }
}

#[test]
fn transform_checks_the_schema() {
    let t = rows_for_edge_cases();
    let other = t.drop_columns(&["t"]).unwrap();
    for imputer in imputers() {
        let err = imputer.fit_boxed(&t).unwrap().transform(&other).unwrap_err();
        assert!(matches!(err, rec_table::Error::SchemaMismatch(_)), "{}: {err}", imputer.name());
    }
}

#[test]
fn bad_parameters_are_errors() {
    let t = rows_for_edge_cases();
    let err = rec_table::Imputer::fit(&KnnImputer::new(0), &t).unwrap_err();
    assert!(err.to_string().contains("k"), "{err}");
    assert!(rec_table::Imputer::fit(&IterativeImputer::new().with_max_iter(0), &t).is_err());
    assert!(rec_table::Imputer::fit(&MissForestImputer::new().with_max_iter(0), &t).is_err());
}

#[test]
fn modes_and_deletion() {
    let t = rows_for_edge_cases();
    let fitted = rec_table::Imputer::fit(&SimpleImputer::mode(), &t).unwrap();
    // Set column: tags cycle p, q, r, s with holes; the most frequent whole set wins.
    assert!(matches!(&fitted.fills()[4], Some(Value::Set(s)) if s.len() == 1));
    let deletion = rec_table::Imputer::fit(&CaseDeletion::new(), &t).unwrap();
    let complete = deletion.complete_rows(&t).unwrap();
    let out = rec_table::FittedImputer::transform(&deletion, &t).unwrap();
    assert_eq!(out.num_rows(), complete.len());
    assert!(complete.len() < t.num_rows());
}

#[test]
fn knn_votes_and_sets() {
    // Two clusters; the categorical and set-valued cells follow the cluster.
    let mut rows: Vec<Row> = Vec::new();
    for i in 0..10 {
        rows.push((i as f64 * 0.1, 0.0, 0, vec![0, 1], [false; 5]));
        rows.push((100.0 + i as f64 * 0.1, 10.0, 1, vec![2], [false; 5]));
    }
    rows.push((0.05, 0.0, 0, vec![], [false, false, true, true, false]));
    rows.push((100.05, 10.0, 0, vec![], [false, false, true, true, false]));
    let t = table_from(&rows);
    let out =
        rec_table::FittedImputer::transform(&rec_table::Imputer::fit(&KnnImputer::new(3), &t).unwrap(), &t).unwrap();
    assert_eq!(out.value(20, 3), Some(Value::Category("x".into())));
    assert_eq!(out.value(20, 4), Some(Value::Set(vec!["p".into(), "q".into()])));
    assert_eq!(out.value(21, 3), Some(Value::Category("y".into())));
    assert_eq!(out.value(21, 4), Some(Value::Set(vec!["r".into()])));
}

#[test]
fn missforest_is_seeded_and_learns() {
    let t = rows_for_edge_cases();
    let forest = ForestParams { n_trees: 20, max_features: imputers_baseline::MaxFeatures::All, ..Default::default() };
    let imputer = MissForestImputer::new().with_forest(forest).with_seed(3);
    let a = rec_table::FittedImputer::transform(&rec_table::Imputer::fit(&imputer, &t).unwrap(), &t).unwrap();
    let b = rec_table::FittedImputer::transform(&rec_table::Imputer::fit(&imputer, &t).unwrap(), &t).unwrap();
    assert_eq!(a, b);
    // b = 2a + 1 exactly; the b cells hidden where a is seen are rows 1, 6 and 11 (3, 13, 23).
    // A forest of 16 training rows predicts leaf means, so it cannot be exact; measured worst
    // error 5.1 at seed 3 (the edge row 1), the column mean's 17.5. The bound keeps 0.9 of
    // margin; the mean misses by three times the bound.
    let hidden: Vec<usize> = (0..t.num_rows()).filter(|&r| t.is_missing(r, 2) && !t.is_missing(r, 1)).collect();
    assert_eq!(hidden, [1, 6, 11]);
    let worst = |out: &Table| {
        hidden
            .iter()
            .map(|&r| (out.value(r, 2).and_then(|v| v.as_f64()).unwrap() - (2.0 * r as f64 + 1.0)).abs())
            .fold(0.0, f64::max)
    };
    let mean =
        rec_table::FittedImputer::transform(&rec_table::Imputer::fit(&SimpleImputer::mean(), &t).unwrap(), &t).unwrap();
    let (forest_err, mean_err) = (worst(&a), worst(&mean));
    assert!(mean_err > 17.0, "the mean's worst error {mean_err}");
    assert!(forest_err < 6.0, "forest worst error {forest_err} (mean {mean_err})");
}

#[test]
fn params_round_trip_through_json() {
    let knn = KnnImputer::new(7).with_weights(KnnWeights::Distance);
    let json = serde_json::to_string(&knn).unwrap();
    assert_eq!(serde_json::from_str::<KnnImputer>(&json).unwrap(), knn);
    let it = IterativeImputer::new().with_numeric_model(imputers_baseline::NumericModel::Ridge { alpha: 2.0 });
    assert_eq!(serde_json::from_str::<IterativeImputer>(&serde_json::to_string(&it).unwrap()).unwrap(), it);
    let mf = MissForestImputer::new().with_seed(9);
    assert_eq!(serde_json::from_str::<MissForestImputer>(&serde_json::to_string(&mf).unwrap()).unwrap(), mf);
    let simple = SimpleImputer::constant(1.5, "none", vec!["a".into()]);
    assert_eq!(serde_json::from_str::<SimpleImputer>(&serde_json::to_string(&simple).unwrap()).unwrap(), simple);
    let del = CaseDeletion::new().with_mode(DeletionMode::KeepRows);
    assert_eq!(serde_json::from_str::<CaseDeletion>(&serde_json::to_string(&del).unwrap()).unwrap(), del);
}

/// `x` in [k, k+1) has label k of a..e; counts 20, 20, 12, 8, 4. Rows 0 (an `a`) and 63 (an
/// `e`) lose their label.
fn five_labels() -> Table {
    let schema = Schema::try_new(vec![
        ColumnSpec::new("x", ColumnKind::Numeric),
        ColumnSpec::new("lab", ColumnKind::Categorical),
    ])
    .unwrap();
    let mut rows = Vec::new();
    for (k, (label, n)) in [("a", 20), ("b", 20), ("c", 12), ("d", 8), ("e", 4)].into_iter().enumerate() {
        for i in 0..n {
            rows.push(vec![Some(Value::Number(k as f64 + i as f64 / n as f64)), Some(Value::Category(label.into()))]);
        }
    }
    rows[0][1] = None;
    rows[63][1] = None;
    Table::from_rows(schema, rows).unwrap()
}

#[test]
fn chained_imputers_pool_rare_labels_beyond_the_cap() {
    let t = five_labels();
    assert_eq!(t.value(63, 0), Some(Value::Number(4.0 + 3.0 / 4.0)));
    let forest = ForestParams { n_trees: 20, max_features: imputers_baseline::MaxFeatures::All, ..Default::default() };
    let capped: Vec<Box<dyn DynImputer>> = vec![
        Box::new(IterativeImputer::new().with_max_labels(Some(3))),
        Box::new(MissForestImputer::new().with_forest(forest).with_max_labels(Some(3))),
    ];
    for imputer in capped {
        let fitted = imputer.fit_boxed(&t).unwrap();
        let out = fitted.transform(&t).unwrap();
        // `a` and `b` are kept apart; c, d and e are one class whose fills write `c`, the most
        // frequent of them: the true `e` of row 63 comes back as `c`, never as the pool's name.
        assert_eq!(out.value(0, 1), Some(Value::Category("a".into())), "{}", imputer.name());
        assert_eq!(out.value(63, 1), Some(Value::Category("c".into())), "{}", imputer.name());
        check_observed_kept(&t, &out, &(0..t.num_rows()).collect::<Vec<_>>(), &imputer.name());
        // A label unseen at fit is accepted, and stays as it was.
        let schema = t.schema().clone();
        let new = Table::from_rows(
            schema,
            vec![
                vec![Some(Value::Number(4.5)), Some(Value::Category("zzz".into()))],
                vec![Some(Value::Number(1.5)), None],
            ],
        )
        .unwrap();
        let out = fitted.transform(&new).unwrap();
        assert_eq!(out.value(0, 1), Some(Value::Category("zzz".into())));
        assert_eq!(out.value(1, 1), Some(Value::Category("b".into())), "{}", imputer.name());
    }
    // The pool survives a save and a load.
    let dir = tempfile::tempdir().unwrap();
    let fitted = rec_table::Imputer::fit(&IterativeImputer::new().with_max_labels(Some(3)), &t).unwrap();
    fitted.save(&dir.path().join("it.json")).unwrap();
    let loaded = imputers_baseline::FittedIterative::load(&dir.path().join("it.json")).unwrap();
    assert_eq!(
        rec_table::FittedImputer::transform(&loaded, &t).unwrap(),
        rec_table::FittedImputer::transform(&fitted, &t).unwrap()
    );
    // Without the cap, the rare label can be written.
    let forest = ForestParams { n_trees: 20, max_features: imputers_baseline::MaxFeatures::All, ..Default::default() };
    let out = rec_table::FittedImputer::transform(
        &rec_table::Imputer::fit(&MissForestImputer::new().with_forest(forest).with_max_labels(None), &t).unwrap(),
        &t,
    )
    .unwrap();
    assert_eq!(out.value(63, 1), Some(Value::Category("e".into())));
    // A cap below 2 is refused; the default pools nothing, also when a config leaves it out.
    assert!(rec_table::Imputer::fit(&IterativeImputer::new().with_max_labels(Some(1)), &t).is_err());
    assert!(rec_table::Imputer::fit(&MissForestImputer::new().with_max_labels(Some(0)), &t).is_err());
    assert_eq!(serde_json::from_str::<IterativeImputer>(r#"{"numeric_model":{"model":"bayesian_ridge"},"label_model":{"model":"logistic","c":1.0},"max_iter":10,"tol":0.001,"initial_median":false,"order":"ascending","seed":0}"#).unwrap().max_labels, None);
}

#[test]
fn label_fits_that_stop_at_their_budget_are_reported() {
    let t = five_labels();
    let fitted = rec_table::Imputer::fit(&IterativeImputer::new(), &t).unwrap();
    let (capped, all) = fitted.label_fits_at_cap();
    assert_eq!(capped, 0, "these labels are easy");
    assert!(all > 0);
    let chain_note = usize::from(!fitted.converged());
    assert_eq!(FittedClassical::from(fitted.clone()).notes().len(), chain_note);
    // The flag travels in the saved model: mark one fit as stopped at its budget (the solver's
    // own test makes one that is) and it is counted and said.
    let mut json = serde_json::to_value(&fitted).unwrap();
    let flag = find_key(&mut json, "stopped_at_cap").expect("the logistic model records its stop");
    *flag = serde_json::Value::Bool(true);
    let marked: imputers_baseline::FittedIterative = serde_json::from_value(json).unwrap();
    assert_eq!(marked.label_fits_at_cap(), (1, all));
    let notes = FittedClassical::from(marked).notes();
    assert!(notes.iter().any(|n| n.contains(&format!("1 of {all} label-model fits stopped at 100"))), "{notes:?}");
    // One round cannot meet the tolerance (it compares two rounds): said.
    let short = rec_table::Imputer::fit(&IterativeImputer::new().with_max_iter(1), &t).unwrap();
    assert!(!short.converged());
    let notes = FittedClassical::from(short).notes();
    assert!(notes.iter().any(|n| n.contains("ran all 1 rounds")), "{notes:?}");
}

/// The first value under `key` anywhere in `v`.
fn find_key<'a>(v: &'a mut serde_json::Value, key: &str) -> Option<&'a mut serde_json::Value> {
    match v {
        serde_json::Value::Object(map) => {
            if map.contains_key(key) {
                return map.get_mut(key);
            }
            map.values_mut().find_map(|v| find_key(v, key))
        }
        serde_json::Value::Array(items) => items.iter_mut().find_map(|v| find_key(v, key)),
        _ => None,
    }
}
