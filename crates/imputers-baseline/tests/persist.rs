//! Saved and loaded imputers fill exactly as the ones that were saved, for every method, on a
//! table with every column kind, a column with nothing observed and labels unseen at fit; bad
//! files are refused with an error naming them.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use std::path::Path;

use imputers_baseline::persist::{FORMAT, VERSION};
use imputers_baseline::{
    CaseDeletion, FillDomain, FittedClassical, FittedKnn, FittedMissForest, ForestParams, IterativeImputer, KnnImputer,
    LabelModel, MissForestImputer, SavedImputer, SimpleImputer,
};
use rec_table::{ColumnKind, ColumnSpec, FittedImputer, Imputer, Schema, Table, Value};

fn schema() -> Schema {
    Schema::try_new(vec![
        ColumnSpec::new("id", ColumnKind::Id),
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("score", ColumnKind::Numeric),
        ColumnSpec::new("city", ColumnKind::Categorical),
        ColumnSpec::new("tags", ColumnKind::SetValued),
        ColumnSpec::new("note", ColumnKind::Text),
        ColumnSpec::new("never", ColumnKind::Numeric),
    ])
    .unwrap()
}

/// Rows whose columns depend on each other (city follows age, score follows both), with
/// holes in a fixed pattern; `offset` shifts the rows so a test table differs from the
/// training one, and `unseen` puts a city never seen at fit into it.
fn table(rows: usize, offset: usize, unseen: bool) -> Table {
    let cities = ["Lyon", "Paris", "Rome"];
    let data = (0..rows)
        .map(|r| {
            let i = r + offset;
            let group = i % 3;
            let age = 20.0 + 10.0 * group as f64 + (i * 7 % 5) as f64;
            let city = if unseen && r == 1 { "Oslo" } else { cities[group] };
            let tags: Vec<String> = ["a", "b", "c"].iter().take(group + 1).map(|t| t.to_string()).collect();
            vec![
                Some(Value::Category(format!("u{i}"))),
                (!i.is_multiple_of(5)).then_some(Value::Number(age)),
                (i % 7 != 3).then_some(Value::Number(2.5 * age + group as f64 + 0.125 * (i % 4) as f64)),
                (i % 4 != 2).then(|| Value::Category(city.into())),
                (i % 6 != 1).then_some(Value::Set(tags)),
                i.is_multiple_of(2).then(|| Value::Text(format!("note {i}"))),
                None,
            ]
        })
        .collect();
    Table::from_rows(schema(), data).unwrap()
}

/// Every method of the crate, each fitted on `train`.
fn fitted_all(train: &Table) -> Vec<(String, FittedClassical)> {
    let forest = ForestParams { n_trees: 5, ..ForestParams::default() };
    let mut out: Vec<(String, FittedClassical)> = vec![
        ("case_deletion".into(), CaseDeletion::new().fit(train).unwrap().into()),
        ("knn".into(), KnnImputer::new(3).fit(train).unwrap().into()),
        ("iterative".into(), IterativeImputer::new().with_max_iter(3).fit(train).unwrap().into()),
        (
            "iterative(onehot)".into(),
            IterativeImputer::new()
                .with_max_iter(2)
                .with_label_model(LabelModel::OneHotRegression)
                .fit(train)
                .unwrap()
                .into(),
        ),
        (
            "missforest".into(),
            MissForestImputer::new().with_forest(forest).with_max_iter(2).with_seed(7).fit(train).unwrap().into(),
        ),
    ];
    for simple in [SimpleImputer::mean(), SimpleImputer::median(), SimpleImputer::mode(), SimpleImputer::zero()] {
        out.push((Imputer::name(&simple), simple.fit(train).unwrap().into()));
    }
    out
}

#[test]
fn every_method_fills_the_same_after_a_round_trip() {
    let train = table(60, 0, false);
    let test = table(25, 1000, true);
    let dir = tempfile::tempdir().unwrap();
    for (name, fitted) in fitted_all(&train) {
        let path = dir.path().join(format!("{name}.json"));
        fitted.save(&path).unwrap();
        let loaded = FittedClassical::load(&path).unwrap();
        assert_eq!(loaded.method(), fitted.method(), "{name}");
        assert_eq!(loaded.schema(), fitted.schema(), "{name}");
        for (which, t) in [("train", &train), ("test", &test)] {
            let before = fitted.transform(t).unwrap();
            let after = loaded.transform(t).unwrap();
            assert_eq!(after, before, "{name} on {which}: the loaded imputer fills differently");
        }
        // The comparison above means something only if the method filled cells.
        let filled = fitted.transform(&test).unwrap();
        if name != "case_deletion" {
            assert!(filled.missing_cells().count() < test.missing_cells().count(), "{name} filled nothing");
        }
    }
}

#[test]
fn typed_save_and_load_and_the_fill_domain() {
    let train = table(60, 0, false);
    let test = table(20, 500, false);
    let dir = tempfile::tempdir().unwrap();
    let knn = KnnImputer::new(2).fit(&train).unwrap();
    let path = dir.path().join("knn.json");
    knn.save(&path).unwrap();
    let loaded = FittedKnn::load(&path).unwrap();
    assert_eq!(loaded.donors(), knn.donors());
    assert_eq!(loaded.transform(&test).unwrap(), knn.transform(&test).unwrap());

    // A knn file is not a missforest one.
    let err = FittedMissForest::load(&path).unwrap_err().to_string();
    assert!(err.contains("holds a knn imputer, not missforest") && err.contains("knn.json"), "{err}");

    // The domain travels with the imputer.
    let domain = FillDomain::learn(&train);
    let saved = SavedImputer { imputer: knn.into(), domain: Some(domain.clone()) };
    let with_domain = dir.path().join("with-domain.json");
    saved.save(&with_domain).unwrap();
    let back = SavedImputer::load(&with_domain).unwrap();
    assert_eq!(back.domain, Some(domain));
    assert_eq!(back.imputer.method(), "knn");
}

#[test]
fn the_file_says_what_it_is() {
    let train = table(30, 0, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mean.json");
    FittedClassical::from(SimpleImputer::mean().fit(&train).unwrap()).save(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["format"], FORMAT);
    assert_eq!(json["version"], VERSION);
    assert_eq!(json["imputer"]["method"], "simple");
    assert!(json["domain"].is_null());
    // The fitted schema names the columns.
    assert!(json["imputer"]["fitted"].to_string().contains("\"city\""));
}

fn load_err(path: &Path, content: &str) -> String {
    std::fs::write(path, content).unwrap();
    let err = SavedImputer::load(path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "the error names the file: {err}");
    err
}

#[test]
fn bad_files_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    assert!(load_err(&path, "age,city\n1,2\n").contains("not an imputer file"));
    assert!(load_err(&path, r#"{"format": "something.else", "version": 1}"#).contains("not an imputer file"));
    let newer = format!(r#"{{"format": "{FORMAT}", "version": {}}}"#, VERSION + 1);
    assert!(load_err(&path, &newer).contains("this build reads up to version"));
    let unknown =
        format!(r#"{{"format": "{FORMAT}", "version": 1, "imputer": {{"method": "magic", "fitted": {{}}}}}}"#);
    assert!(load_err(&path, &unknown).contains("magic"));

    // A truncated file (a copy cut short) is an error, not a half-filled imputer.
    let train = table(30, 0, false);
    let good = dir.path().join("good.json");
    FittedClassical::from(KnnImputer::new(2).fit(&train).unwrap()).save(&good).unwrap();
    let text = std::fs::read_to_string(&good).unwrap();
    let err = load_err(&path, &text[..text.len() / 2]);
    assert!(err.contains("EOF"), "{err}");

    let missing = dir.path().join("nope.json");
    let err = SavedImputer::load(&missing).unwrap_err().to_string();
    assert!(err.contains("nope.json") && err.contains("cannot open"), "{err}");
}
