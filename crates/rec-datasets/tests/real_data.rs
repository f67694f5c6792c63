//! Tests on the real files of the shared data directory (read in place, never copied).
//! They fail, not skip, when the directory is absent: set `RECIMPUTE_DATA` to point at it.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use std::collections::HashSet;

use rec_datasets::adclick::{adclick_path, duplicate_rows, load_adclick};
use rec_datasets::general::load_labeled;
use rec_datasets::movielens::{load_ml100k, MovieLens, MovieLensOptions};
use rec_datasets::shared_data_dir;
use rec_datasets::split::{adclick_split, ml100k_fold, Fractions, Ml100kFold};
use rec_table::{ColumnKind, Value};

fn ml100k() -> MovieLens {
    let dir = shared_data_dir().expect("the shared data directory is needed by this test");
    load_ml100k(dir.join("ml-100k"), &MovieLensOptions::default()).expect("ml-100k loads")
}

fn find(table: &rec_table::Table, key: &str, id: &str) -> usize {
    table.strings(key).unwrap().iter().position(|v| *v == Some(id)).unwrap()
}

#[test]
fn ml100k_counts_titles_and_join() {
    let ml = ml100k();
    assert_eq!(ml.users.num_rows(), 943);
    assert_eq!(ml.items.num_rows(), 1682);
    assert_eq!(ml.ratings.num_rows(), 100_000);

    // Latin-1 titles decoded: u.item line 543 is "Mis\xe9rables, Les (1995)".
    let row = find(&ml.items, "item_id", "543");
    assert_eq!(ml.items.value(row, 1), Some(Value::Text("Misérables, Les".into())));
    assert_eq!(ml.items.value(row, 2), Some(Value::Number(1995.0)));
    let row = find(&ml.items, "item_id", "1633");
    assert_eq!(ml.items.value(row, 1), Some(Value::Text("Á köldum klaka (Cold Fever)".into())));

    // Toy Story: genres from the flags, year from the title.
    let row = find(&ml.items, "item_id", "1");
    assert_eq!(ml.items.value(row, 1), Some(Value::Text("Toy Story".into())));
    assert_eq!(
        ml.items.value(row, 3),
        Some(Value::Set(vec!["Animation".into(), "Children's".into(), "Comedy".into()]))
    );
    // Item 267 has no title, date or genre; 1373 only the "unknown" genre flag.
    let row = find(&ml.items, "item_id", "267");
    assert_eq!((ml.items.value(row, 1), ml.items.value(row, 2), ml.items.value(row, 3)), (None, None, None));
    assert_eq!(ml.items.missing_per_column(), [0, 1, 1, 2]);

    // Users: the first line is 1|24|M|technician|85711; Canadian zips are "other".
    assert_eq!(ml.users.column_values(4)[0], Some(Value::Category("zip8".into())));
    assert_eq!(ml.users.value(0, 1), Some(Value::Number(24.0)));
    let regions: HashSet<_> = ml.users.strings("region").unwrap().into_iter().flatten().collect();
    assert!(regions.contains("other") && regions.len() == 11, "{regions:?}");
    assert_eq!(ml.users.missing_per_column(), [0; 5]);

    let model = ml.model_table().unwrap();
    assert_eq!(model.num_rows(), 100_000);
    assert_eq!(
        model.schema().names(),
        [
            "user_id",
            "item_id",
            "rating",
            "timestamp",
            "age",
            "gender",
            "occupation",
            "region",
            "title",
            "year",
            "genres"
        ]
    );
    assert_eq!(model.schema().column("genres").unwrap().kind, ColumnKind::SetValued);
    // First line of u.data: 196 242 3 881250949; user 196 is 49|M|writer|55105.
    assert_eq!(model.value(0, 0), Some(Value::Category("196".into())));
    assert_eq!(model.value(0, 2), Some(Value::Number(3.0)));
    assert_eq!(model.value(0, 4), Some(Value::Number(49.0)));
    assert_eq!(model.value(0, 6), Some(Value::Category("writer".into())));
    assert_eq!(model.value(0, 7), Some(Value::Category("zip5".into())));
}

#[test]
fn ml100k_standard_folds() {
    let dir = shared_data_dir().unwrap().join("ml-100k");
    let ml = ml100k();
    let mut u_tests = HashSet::new();
    for fold in Ml100kFold::ALL {
        let s = ml100k_fold(&dir, fold, &ml.ratings).unwrap();
        let (base, test) = match fold {
            Ml100kFold::Ua | Ml100kFold::Ub => (90_570, 9_430),
            _ => (80_000, 20_000),
        };
        assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (base, 0, test), "{fold:?}");
        let train: HashSet<_> = s.train.iter().collect();
        assert!(s.test.iter().all(|r| !train.contains(r)));
        if !matches!(fold, Ml100kFold::Ua | Ml100kFold::Ub) {
            for r in &s.test {
                assert!(u_tests.insert(*r), "u1..u5 test sets are disjoint");
            }
        }
    }
    assert_eq!(u_tests.len(), 100_000);
}

#[test]
fn adclick_rates_duplicates_and_split() {
    let path = adclick_path(shared_data_dir().unwrap());
    let ad = load_adclick(&path).unwrap();
    let t = &ad.table;
    assert_eq!(t.num_rows(), 10_000);
    assert_eq!(
        t.schema().names(),
        ["age", "gender", "device_type", "ad_position", "browsing_history", "time_of_day", "click"]
    );
    let rates: Vec<f64> = t.missing_per_column().iter().map(|&m| m as f64 / 10_000.0).collect();
    assert_eq!(rates, [0.4766, 0.4693, 0.2, 0.2, 0.4782, 0.2, 0.0]);
    for r in &rates[..6] {
        assert!((0.2..=0.48).contains(r));
    }
    assert_eq!(t.complete_rows().len(), 816);
    let clicks = t.numeric("click").unwrap();
    assert_eq!(clicks.iter().filter(|c| **c == Some(1.0)).count(), 6_500);

    // The 2,853 duplicates are rows equal on all nine columns, identifiers included.
    let raw = load_labeled(&path, "click").unwrap().table;
    assert_eq!(duplicate_rows(&raw, &[]).unwrap(), 2_853);
    let features = ["age", "gender", "device_type", "ad_position", "browsing_history", "time_of_day", "click"];
    assert_eq!(duplicate_rows(&raw, &features).unwrap(), 4_589);
    assert_eq!(ad.groups.iter().collect::<HashSet<_>>().len(), 4_000);

    // The split keeps every id, and so every exact duplicate, in one part.
    let split = adclick_split(&ad, Fractions::default(), 9);
    assert_eq!(split.len(), 10_000);
    let ids = |rows: &[usize]| rows.iter().map(|&r| ad.groups[r].clone()).collect::<HashSet<_>>();
    let (tr, va, te) = (ids(&split.train), ids(&split.validation), ids(&split.test));
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
    assert!((split.train.len() as f64 / 10_000.0 - 0.8).abs() < 0.01);
    let parts = split.apply(&raw).unwrap();
    let rows = |t: &rec_table::Table| {
        (0..t.num_rows())
            .map(|r| format!("{:?}", (0..9).map(|c| t.value(r, c)).collect::<Vec<_>>()))
            .collect::<HashSet<_>>()
    };
    assert!(rows(&parts.train).is_disjoint(&rows(&parts.test)));
}
