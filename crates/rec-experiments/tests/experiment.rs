//! The experiment runner end to end on the generated task, and its resume behaviour.
#![cfg(feature = "dlrm")]

use rec_experiments::{
    cells, grid_dlrm, run_grid, run_quality_cell, ExperimentConfig, ImputerName, Pattern, QualityConfig, QualitySpec,
    QualityTable, TaskName,
};

fn small(out: &std::path::Path, imputers: Vec<ImputerName>) -> ExperimentConfig {
    ExperimentConfig {
        out_dir: out.to_path_buf(),
        tasks: vec![TaskName::SyntheticAdclick],
        imputers,
        rates: vec![0.1],
        seeds: vec![3],
        synthetic_rows: 1500,
        dlrm: grid_dlrm().with_epochs(8).with_batch_size(64),
        ..ExperimentConfig::default()
    }
}

#[test]
fn an_interrupted_grid_resumes_without_recomputing_finished_cells() {
    let dir = tempfile::tempdir().unwrap();
    // The "interrupted" run finished only the mean cell.
    let first = run_grid(&small(dir.path(), vec![ImputerName::Mean]), |_, _, _, _| {}).unwrap();
    assert_eq!((first.computed, first.reused), (1, 0));
    let saved =
        dir.path().join("cells").join(format!("{}.json", cells(&small(dir.path(), vec![ImputerName::Mean]))[0].key()));
    let before = std::fs::read(&saved).unwrap();

    let mut seen = Vec::new();
    let config = small(dir.path(), vec![ImputerName::Mean, ImputerName::Knn]);
    let second = run_grid(&config, |_, _, spec, reused| seen.push((spec.imputer, reused))).unwrap();
    assert_eq!((second.computed, second.reused), (1, 1));
    assert_eq!(seen, [(ImputerName::Mean, true), (ImputerName::Knn, false)]);
    assert_eq!(std::fs::read(&saved).unwrap(), before, "a finished cell is not rewritten");

    // Both cells measured something real: hidden cells scored, a model evaluated.
    for r in &second.results {
        assert!(r.masked_cells > 0);
        let imputation = r.imputation.as_ref().expect("mean and knn fill cells");
        assert!(!imputation.columns.is_empty());
        let headline = r.downstream.headline();
        let auc = headline.iter().find(|h| h.0 == "AUC").unwrap().1;
        assert!(auc > 0.5 && auc <= 1.0, "AUC {auc}");
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("| mean | 1 |") && report.contains("| knn | 1 |"), "{report}");
    assert!(dir.path().join("results.json").exists() && dir.path().join("config.json").exists());
}

#[test]
fn a_corrupt_cell_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(dir.path(), vec![ImputerName::Mean]);
    std::fs::create_dir_all(dir.path().join("cells")).unwrap();
    let path = dir.path().join("cells").join(format!("{}.json", cells(&config)[0].key()));
    std::fs::write(&path, b"{ not json").unwrap();
    let e = format!("{:#}", run_grid(&config, |_, _, _, _| {}).unwrap_err());
    assert!(e.contains("not a result of this grid") && e.contains("delete it"), "{e}");
}

#[test]
fn cells_of_other_settings_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small(dir.path(), vec![ImputerName::Mean]);
    config.dlrm = config.dlrm.with_epochs(1);
    run_grid(&config, |_, _, _, _| {}).unwrap();
    // A killed writer's temporary file is cleaned up by the next run.
    let stale = dir.path().join("cells").join(".x.json.0.3.tmp");
    std::fs::write(&stale, b"half").unwrap();

    // Another seed adds cells and reuses the finished one.
    config.seeds.push(4);
    let again = run_grid(&config, |_, _, _, _| {}).unwrap();
    assert_eq!((again.computed, again.reused), (1, 1));
    if std::path::Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "stale temporary file left");
    }

    // Another epoch budget or LLM setting changes the numbers: refused, files untouched.
    let saved = std::fs::read(dir.path().join("config.json")).unwrap();
    let mut other = config.clone();
    other.dlrm = other.dlrm.with_epochs(2);
    let e = run_grid(&other, |_, _, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("other settings (dlrm differ)") && e.contains("cells"), "{e}");
    let mut other = config.clone();
    other.llm.lora.r = 4;
    let e = run_grid(&other, |_, _, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("(llm differ)"), "{e}");
    assert_eq!(std::fs::read(dir.path().join("config.json")).unwrap(), saved);
}

#[test]
fn bad_grids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small(dir.path(), vec![ImputerName::Mean]);
    config.rates = vec![1.5];
    let e = run_grid(&config, |_, _, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("rate 1.5"), "{e}");
    assert_eq!("llm".parse::<ImputerName>().unwrap(), ImputerName::Llm);
    assert!("lmm".parse::<ImputerName>().unwrap_err().contains("unknown imputer"));
}

#[test]
fn a_zero_rate_hides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small(dir.path(), vec![ImputerName::Mean]);
    config.rates = vec![0.0];
    let outcome = run_grid(&config, |_, _, _, _| {}).unwrap();
    assert_eq!(outcome.results[0].masked_cells, 0);
    assert!(outcome.results[0].imputation.is_none(), "no hidden cell, nothing to score");
}

#[test]
fn the_two_movielens_tasks_share_one_fill() {
    // The shared data is part of the project's setup: a missing directory fails the test with
    // the reason, it never passes by skipping.
    let data = rec_experiments::data_dir(None)
        .unwrap_or_else(|e| panic!("this test reads ml-100k from the shared data directory: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let config = ExperimentConfig {
        out_dir: dir.path().to_path_buf(),
        data_dir: Some(data),
        tasks: vec![TaskName::MovielensClass, TaskName::MovielensRegression],
        imputers: vec![ImputerName::Knn],
        rates: vec![0.05],
        seeds: vec![0],
        dlrm: grid_dlrm().with_epochs(1).with_batch_size(4096),
        ..ExperimentConfig::default()
    };
    let first = run_grid(&config, |_, _, _, _| {}).unwrap();
    let [class, regression] = &first.results[..] else { panic!("two cells") };
    assert!(!class.imputation_reused && regression.imputation_reused);
    assert_eq!(class.imputation, regression.imputation, "the same hidden cells, filled the same way");
    assert!(class.imputation.as_ref().unwrap().columns.len() >= 5);
    let meta = dir.path().join("imputed").join("ml100k__knn__mcar-0.050__seed0").join("meta.json");
    assert!(meta.exists());

    // A fill saved for other inputs is not reused: it is recomputed and replaced.
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replace("\"seed\": 0", "\"seed\": 9")).unwrap();
    std::fs::remove_file(dir.path().join("cells").join(format!("{}.json", regression.spec.key()))).unwrap();
    let second = run_grid(&config, |_, _, _, _| {}).unwrap();
    assert_eq!((second.computed, second.reused), (1, 1));
    assert!(!second.results[1].imputation_reused);
    assert_eq!(second.results[1].imputation, regression.imputation);
    assert!(std::fs::read_to_string(&meta).unwrap().contains("\"seed\": 0"));
}

#[test]
fn every_real_table_can_be_scored_for_imputation_quality() {
    let data = rec_experiments::data_dir(None)
        .unwrap_or_else(|e| panic!("this test reads ml-100k and adclick from the shared data directory: {e}"));
    let config = QualityConfig::default();
    // (table, the columns that may be hidden)
    let expected: [(QualityTable, &[&str]); 3] = [
        (QualityTable::Ml100kUsers, &["age", "gender", "occupation", "region"]),
        (QualityTable::Ml100kItems, &["year", "genres"]),
        (QualityTable::Adclick, &["age", "gender", "device_type", "ad_position", "browsing_history", "time_of_day"]),
    ];
    for (table, columns) in expected {
        let spec = QualitySpec {
            table: table.clone(),
            imputer: ImputerName::Mean,
            pattern: Pattern::Mcar,
            rate: 0.05,
            seed: 0,
        };
        let result = run_quality_cell(&spec, &data, &config).unwrap_or_else(|e| panic!("{}: {e:#}", table.as_str()));
        assert!(result.hidden_cells > 0, "{}", table.as_str());
        let scored: Vec<&str> = result.report.columns.iter().map(|c| c.column.as_str()).collect();
        for c in columns {
            assert!(scored.contains(c), "{}: column {c} was never hidden (scored: {scored:?})", table.as_str());
        }
        assert!(!scored.iter().any(|c| ["user_id", "item_id", "title", "id", "click"].contains(c)), "{scored:?}");
    }
}

#[test]
fn cold_start_splits_keep_their_users_or_items_out_of_training() {
    use rec_experiments::{movielens_split, MovielensSplit};
    use std::collections::HashSet;
    let data = rec_experiments::data_dir(None)
        .unwrap_or_else(|e| panic!("this test reads ml-100k from the shared data directory: {e}"));
    let dir = data.join("ml-100k");
    let ml = rec_datasets::movielens::load_ml100k(&dir, &Default::default()).unwrap();
    let ids = |column: &str, rows: &[usize]| -> HashSet<String> {
        let all = ml.ratings.strings(column).unwrap();
        rows.iter().map(|&r| all[r].unwrap().to_string()).collect()
    };
    for (split, column) in [(MovielensSplit::ColdUsers, "user_id"), (MovielensSplit::ColdItems, "item_id")] {
        let s = movielens_split(&dir, &ml.ratings, split, 4).unwrap();
        assert_eq!(s.train.len() + s.test.len(), ml.ratings.num_rows(), "{split:?}");
        let share = s.test.len() as f64 / ml.ratings.num_rows() as f64;
        assert!((0.18..0.22).contains(&share), "{split:?}: {share}");
        let (train, test) = (ids(column, &s.train), ids(column, &s.test));
        assert!(train.is_disjoint(&test), "{split:?}: a test {column} is also in training");
        assert!(test.len() > 20, "{split:?}: {}", test.len());
        assert_ne!(s.test, movielens_split(&dir, &ml.ratings, split, 5).unwrap().test, "seeded");
    }
    // u1 is the warm split: most test users also rate in training.
    let u1 = movielens_split(&dir, &ml.ratings, MovielensSplit::U1, 0).unwrap();
    assert!(!ids("user_id", &u1.train).is_disjoint(&ids("user_id", &u1.test)));
}
