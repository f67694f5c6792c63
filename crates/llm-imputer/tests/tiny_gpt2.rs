//! The LLM imputer's whole path (fit → transform → save → load) on a tiny GPT-2 generated
//! here with a byte-level tokenizer; the real model's test is in `smollm2.rs`.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use llm_imputer::testing::tiny_gpt2_backbone;
use llm_imputer::FittedLlmImputer;
use llm_imputer::{
    Backbone, DeviceChoice, Error, ImputeOptions, LlmImputer, LlmImputerConfig, Objective, Precision, RetrievalMode,
};
use rec_table::{read_csv_bytes, ColumnKind, ColumnSpec, CsvOptions, FittedImputer, Imputer, Schema, Table, Value};

fn config(backbone: Backbone, objective: Objective) -> LlmImputerConfig {
    let mut c = LlmImputerConfig::new(backbone)
        .with_max_steps(400)
        // 1e-2 was unstable: over seeds 0-4 the fruit accuracy below ranged 10-32 of 32 (5 of 32
        // in one CI run), while 3e-3 gave 32 of 32 for every seed with either objective.
        .with_learning_rate(3e-3)
        .with_device(DeviceChoice::Cpu)
        .with_precision(Precision::F32)
        .with_progress(false)
        .with_seed(3)
        .with_lora(16, 32.0);
    c.train.batch_size = 8;
    // The warm-up these tests' thresholds were measured with (the imputer's default is now 16).
    c.train.warmup_steps = 8;
    c.examples.objective = objective;
    c.examples.holdout_cells = 0;
    c
}

/// `fruit` follows `colour`; `size` follows `fruit`; `tags` and `note` are free.
fn table(rows: usize) -> Table {
    let colours = ["red", "blue", "green"];
    let fruits = ["apple", "berry", "lime"];
    let sizes = [7.5, 1.0, 3.0];
    let mut csv = String::from("id,colour,fruit,size,tags,note\n");
    for r in 0..rows {
        let k = (r * 7 + r / 3) % 3;
        let tags = if r % 2 == 0 { "sweet|fresh" } else { "sour" };
        csv.push_str(&format!("u{r},{},{},{},{tags},batch {}\n", colours[k], fruits[k], sizes[k], r % 4));
    }
    let schema = Schema::try_new(vec![
        ColumnSpec::new("id", ColumnKind::Id),
        ColumnSpec::new("colour", ColumnKind::Categorical),
        ColumnSpec::new("fruit", ColumnKind::Categorical),
        ColumnSpec::new("size", ColumnKind::Numeric),
        ColumnSpec::new("tags", ColumnKind::SetValued),
        ColumnSpec::new("note", ColumnKind::Text),
    ])
    .unwrap();
    let opts = CsvOptions::default().with_schema(schema);
    read_csv_bytes(csv.as_bytes(), "fruit.csv", &opts).unwrap()
}

/// The fruit table of 24 rows with one cell of each row hidden (colour, fruit or size in
/// turn), and those cells.
fn one_hole_per_row() -> (Table, Vec<(usize, usize)>) {
    let holes: Vec<(usize, usize)> = (0..24).map(|r| (r, 1 + r % 3)).collect();
    (hide(&table(24), &holes), holes)
}

/// A seeded stream of draws below `n` (a 64-bit linear congruential generator), for tables
/// generated inside a test.
fn draws(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |n| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % n
    }
}

/// Hides the cells `(row, col)` of `t`.
fn hide(t: &Table, cells: &[(usize, usize)]) -> Table {
    let mut rows: Vec<Vec<Option<Value>>> =
        (0..t.num_rows()).map(|r| (0..t.num_columns()).map(|c| t.value(r, c)).collect()).collect();
    for &(r, c) in cells {
        rows[r][c] = None;
    }
    Table::from_rows(t.schema().clone(), rows).unwrap()
}

#[test]
fn fit_transform_save_load_on_a_tiny_gpt2() {
    // One intra-op thread keeps the 400 training steps the same from run to run on one machine
    // (the other test of this binary shares libtorch's thread pool); the threshold below does
    // not depend on it.
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let full = table(96);
    // The value-only objective (the default): the loss is on exactly what imputation asks.
    let imputer = LlmImputer::new(config(backbone, Objective::Values));
    let fitted = imputer.fit(&full).unwrap();
    let report = fitted.report();
    assert_eq!(report.train_rows, 96);
    assert_eq!(report.objective, Objective::Values);
    assert_eq!(report.steps, 400);
    let first = report.losses.first().unwrap().1;
    let last = report.losses.last().unwrap().1;
    assert!(last < 0.6 * first, "training loss {first} -> {last}");

    // Hide fruit in every third row (and several cells of row 1), keep the rest.
    let mut hidden: Vec<(usize, usize)> = (0..96).step_by(3).map(|r| (r, 2)).collect();
    hidden.extend([(1, 1), (1, 3), (1, 4), (1, 5), (4, 3), (7, 4), (10, 5)]);
    let masked = hide(&full, &hidden);
    let imp = fitted.impute(&masked, &ImputeOptions { draws: 3, seed: 1, only: None }).unwrap();
    assert_eq!(imp.cells.len(), hidden.len(), "every hidden cell is imputed once");
    let filled = fitted.transform(&masked).unwrap();
    assert_eq!(filled.missing_cells().count(), 0);

    // Observed cells are untouched.
    for r in 0..96 {
        for c in 0..6 {
            if !masked.is_missing(r, c) {
                assert_eq!(filled.value(r, c), masked.value(r, c), "cell ({r}, {c}) changed");
            }
        }
    }
    // Every imputed value lies in its column's grammar.
    let codec = fitted.codec();
    for cell in &imp.cells {
        let col = &codec.columns()[cell.cell.col];
        for v in std::iter::once(&cell.value).chain(&cell.draws) {
            match v {
                Value::Category(s) => assert!(col.vocabulary.contains(s), "{s} not in {}", col.name),
                Value::Number(x) => {
                    let (lo, hi) = col.range.unwrap();
                    assert!(*x >= lo && *x <= hi, "{x} outside [{lo}, {hi}]");
                }
                Value::Set(items) => {
                    assert!(items.iter().all(|i| col.vocabulary.contains(i)), "{items:?}");
                }
                Value::Text(s) => assert!(!s.contains('"')),
            }
            assert!(v.fits(col.kind), "{v:?} in {}", col.name);
        }
        if let Some(p) = cell.probability {
            assert!((0.0..=1.0 + 1e-9).contains(&p), "probability {p}");
        }
        assert_eq!(cell.draws.len(), 3);
    }
    // The planted dependency colour -> fruit is learnt. Chance (and the mode) is 1/3; at this
    // learning rate seeds 0-4 all reached 32 of 32, so 0.7 keeps a margin and still fails for a
    // model that did not learn the dependency.
    let fruit_cells: Vec<_> = imp.cells.iter().filter(|c| c.cell.col == 2 && c.cell.row != 1).collect();
    let right = fruit_cells.iter().filter(|c| Some(&c.value) == full.value(c.cell.row, 2).as_ref()).count();
    assert!(right as f64 >= 0.7 * fruit_cells.len() as f64, "fruit right in {right} of {}", fruit_cells.len());
    // Generated sets are real values, not the fallback; the tiny model cannot finish quoted
    // text, and those fallbacks are counted, per column and in all.
    assert_eq!(imp.columns["tags"].method, "grammar");
    assert_eq!(imp.columns["tags"].fallbacks, 0, "{:?}", imp.columns);
    assert_eq!(imp.columns["fruit"].method, "scored");
    assert_eq!(imp.columns["size"].method, "scored (mean)");
    let counted: usize = imp.columns.values().map(|c| c.fallbacks).sum();
    assert_eq!(counted, imp.fallbacks);
    assert_eq!(imp.columns["note"].fallbacks, imp.cells.iter().filter(|c| c.cell.col == 5 && c.fallback).count());
    assert!(fitted.is_scored(2) && fitted.is_scored(3) && !fitted.is_scored(4));

    // Multiple imputation gives tables of the same shape, all complete.
    let tables = fitted.transform_multiple(&masked, 2, 9).unwrap();
    assert_eq!(tables.len(), 2);
    assert!(tables.iter().all(|t| t.missing_cells().count() == 0));

    // Save and load: same imputations.
    let dir = tmp.path().join("fitted");
    fitted.save(&dir).unwrap();
    fitted.save(&dir).unwrap(); // replacing an existing save works
    assert!(dir.join("imputer.json").is_file());
    assert!(dir.join("adapter/adapter_model.safetensors").is_file());
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    let again = loaded.transform(&masked).unwrap();
    for c in &imp.cells {
        assert_eq!(again.value(c.cell.row, c.cell.col), filled.value(c.cell.row, c.cell.col));
    }
    assert_eq!(loaded.report().steps, fitted.report().steps);
    assert_eq!(loaded.report().losses.len(), fitted.report().losses.len());
    // Several orders of the known cells: a cell whose row shows one known cell has one
    // distinct view, so its answer is exactly the single view's; rows with several known
    // cells average views that differ.
    let mut loaded = loaded;
    let mut cells: Vec<(usize, usize)> = vec![(2, 1), (2, 2), (2, 4), (2, 5)];
    cells.extend((0..96).step_by(3).map(|r| (r, 2)));
    let few = hide(&full, &cells);
    let probs = |f: &FittedLlmImputer| {
        let imp = f.impute(&few, &ImputeOptions::default()).unwrap();
        assert_eq!(imp.fallbacks, imp.cells.iter().filter(|c| c.cell.col == 5).filter(|c| c.fallback).count());
        imp.cells
            .iter()
            .map(|c| ((c.cell.row, c.cell.col), (c.value.clone(), c.probability)))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let one = probs(&loaded);
    // Scoring that shares prompt prefixes gives the fills of scoring every prompt whole.
    loaded.set_share_prefixes(false);
    let whole = probs(&loaded);
    loaded.set_share_prefixes(true);
    // Chunks of about two prompts, scored on the calling thread and by two worker threads:
    // the same fills as one chunk.
    let same = |a: &std::collections::HashMap<_, (Value, Option<f64>)>, b: &std::collections::HashMap<_, _>| {
        assert_eq!(a.len(), b.len());
        for (cell, (value, p)) in a {
            let (v2, p2): &(Value, Option<f64>) = &b[cell];
            assert_eq!(value, v2, "cell {cell:?}");
            if let (Some(x), Some(y)) = (p, p2) {
                assert!((x - y).abs() < 1e-5, "cell {cell:?}: {x} vs {y}");
            }
        }
    };
    same(&one, &whole);
    loaded.set_scoring_split(64, 1).unwrap();
    let chunked = probs(&loaded);
    loaded.set_scoring_split(64, 2).unwrap();
    let split = probs(&loaded);
    assert!(loaded.set_scoring_split(0, 2).is_err());
    loaded.set_scoring_split(4096, 0).unwrap();
    same(&one, &chunked);
    same(&chunked, &split);
    // Rows with up to four gaps, filled by blocks of rows whose next questions continue their
    // previous ones' caches (the default, in one block and in blocks of 5 rows), and column by
    // column over the whole table: the same fills, and only the blocks continue caches.
    loaded.set_scoring_split(4096, 1).unwrap();
    let mut gappy: Vec<(usize, usize)> = (0..96).step_by(3).map(|r| (r, 2)).collect();
    gappy.extend((0..96).step_by(4).flat_map(|r| [(r, 1), (r, 3)]));
    gappy.extend([(5, 1), (5, 2), (5, 3), (5, 4), (9, 3)]);
    let gappy = hide(&full, &gappy);
    let fills = |f: &FittedLlmImputer| {
        let imp = f.impute(&gappy, &ImputeOptions::default()).unwrap();
        let map = imp
            .cells
            .iter()
            .map(|c| ((c.cell.row, c.cell.col), (c.value.clone(), c.probability)))
            .collect::<std::collections::HashMap<_, _>>();
        (map, imp.prompt_reuse)
    };
    let (blocks, reuse) = fills(&loaded);
    loaded.set_block_rows(5);
    let (small, small_reuse) = fills(&loaded);
    loaded.set_block_rows(0);
    let (columns, no_reuse) = fills(&loaded);
    same(&columns, &blocks);
    same(&columns, &small);
    // Every fourth row has two or three scored gaps: its later questions continue a cache
    // (rows whose questions are identical share one).
    assert!(reuse.resumed > 0 && reuse.fresh > 0 && reuse.tokens_run > 0, "{reuse:?}");
    assert!(small_reuse.resumed >= reuse.resumed, "{small_reuse:?} vs {reuse:?}");
    assert_eq!(no_reuse, llm_imputer::ResumeStats::default());
    // Questions with the known cells written fewest values first: the prompt the codec writes
    // in that order, and again the same fills by blocks and column by column.
    loaded.set_known_order(llm_imputer::KnownOrder::FewestValues);
    let order = loaded.codec().fewest_values_first();
    assert_eq!(
        loaded.prompt_text(&gappy, 0, 2).unwrap(),
        loaded.codec().prompt_ordered(&gappy, 0, 2, &[], &order).unwrap()
    );
    let (ordered_columns, _) = fills(&loaded);
    loaded.set_block_rows(256);
    let (ordered_blocks, ordered_reuse) = fills(&loaded);
    same(&ordered_columns, &ordered_blocks);
    assert!(ordered_reuse.resumed > 0, "{ordered_reuse:?}");
    loaded.set_known_order(llm_imputer::KnownOrder::Schema);
    loaded.set_scoring_split(4096, 2).unwrap();
    loaded.set_block_rows(256);
    let (workers, worker_reuse) = fills(&loaded);
    same(&columns, &workers);
    assert_eq!(worker_reuse.resumed, 0, "two workers fill column by column");
    loaded.set_scoring_split(4096, 0).unwrap();
    loaded.set_orders(3).unwrap();
    let three = probs(&loaded);
    assert!(loaded.set_orders(0).is_err());
    let (p1, p3) = (one[&(2, 1)].1.unwrap(), three[&(2, 1)].1.unwrap());
    assert!((p1 - p3).abs() < 1e-5, "row 2 shows only its size: one view, {p1} vs {p3}");
    let moved = (0..96)
        .step_by(3)
        .filter(|&r| r != 2)
        .filter(|&r| (one[&(r, 2)].1.unwrap() - three[&(r, 2)].1.unwrap()).abs() > 1e-4);
    assert!(moved.count() > 5, "the views of rows with four known cells should differ");
    let right = (0..96).step_by(3).filter(|&r| Some(&three[&(r, 2)].0) == full.value(r, 2).as_ref());
    assert!(right.count() as f64 >= 0.7 * 32.0, "fruit with three orders");
    // Fitted without heads: asking for one is an error, not a silent no-op.
    let err = loaded.set_head_weight(0.5).unwrap_err();
    assert!(err.to_string().contains("no encoder heads"), "{err}");
}

#[test]
fn binned_numbers_are_learnt_and_filled_as_a_mean_over_the_bins() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    // `size` follows `colour`: 10-14, 30-34 or 50-54 in steps of 0.5 (27 distinct values).
    let colours = ["red", "blue", "green"];
    let mut csv = String::from("colour,size\n");
    for r in 0..96 {
        let k = (r * 7 + r / 3) % 3;
        csv.push_str(&format!("{},{}\n", colours[k], 10.0 + 20.0 * k as f64 + 0.5 * (r % 9) as f64));
    }
    let full = read_csv_bytes(csv.as_bytes(), "sizes.csv", &CsvOptions::default()).unwrap();
    let mut cfg = config(backbone, Objective::Values);
    cfg.examples.numeric_bins = 6;
    let fitted = LlmImputer::new(cfg).fit(&full).unwrap();
    let bins = fitted.codec().columns()[1].bins.clone().expect("27 distinct sizes in 6 bins");
    assert_eq!(bins.values.len(), 6);

    let hidden: Vec<(usize, usize)> = (0..96).step_by(3).map(|r| (r, 1)).collect();
    let masked = hide(&full, &hidden);
    let imp = fitted.impute(&masked, &ImputeOptions::default()).unwrap();
    assert_eq!(imp.columns["size"].method, "scored (mean over 6 bins)");
    assert_eq!(imp.fallbacks, 0);
    let (lo, hi) = (bins.values[0], bins.values[5]);
    let (mut sq, mut sq_mean) = (0.0, 0.0);
    let mean = full.column_values(1).iter().flatten().filter_map(Value::as_f64).sum::<f64>() / 96.0;
    for c in &imp.cells {
        let (x, t) = (c.value.as_f64().unwrap(), full.value(c.cell.row, 1).unwrap().as_f64().unwrap());
        // A mean over the bins' values lies between the first and the last.
        assert!((lo - 1e-9..=hi + 1e-9).contains(&x), "{x} outside [{lo}, {hi}]");
        sq += (x - t) * (x - t);
        sq_mean += (mean - t) * (mean - t);
    }
    // The column's mean is ~17 off; a model that learnt colour -> size is within a few units
    // (measured: 1.00 against 17.44), one that did not stays near the mean.
    let (rmse, rmse_mean) = ((sq / 32.0).sqrt(), (sq_mean / 32.0).sqrt());
    assert!(rmse < 0.35 * rmse_mean, "size rmse {rmse:.2} vs the mean's {rmse_mean:.2}");

    // Saved and loaded with its bins: the same fills.
    let dir = tmp.path().join("binned");
    fitted.save(&dir).unwrap();
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    assert_eq!(loaded.codec().columns()[1].bins.as_ref(), Some(&bins));
    let again = loaded.impute(&masked, &ImputeOptions::default()).unwrap();
    for (a, b) in imp.cells.iter().zip(&again.cells) {
        let (a, b) = (a.value.as_f64().unwrap(), b.value.as_f64().unwrap());
        assert!((a - b).abs() < 1e-6, "{a} vs {b} after loading");
    }
}

#[test]
fn retrieval_puts_similar_rows_before_the_prompt_and_is_saved_with_the_imputer() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let full = table(96);
    let hidden: Vec<(usize, usize)> = (0..96).step_by(3).map(|r| (r, 2)).collect();
    let masked = hide(&full, &hidden);
    let fitted = LlmImputer::new(config(backbone, Objective::Values).with_retrieval(2)).fit(&masked).unwrap();
    let report = fitted.report();
    // One target per row and pass: 96 rows (each with several observed cells).
    assert_eq!(report.targets_per_pass, 96);
    // The tiny model's context is 256 tokens of one byte each, and a row is about 85 bytes:
    // two retrieved rows, the question and a 32-token answer do not fit, so prompts lose their
    // least similar row, and that is counted.
    assert!(report.trimmed_examples > 0, "{report:?}");

    // The prompt of a hidden fruit: the most similar row (same colour) with its fruit, then
    // the question. Colour decides fruit here, so the example shows the right answer.
    let prompt = fitted.prompt_text(&masked, 0, 2).unwrap();
    let lines: Vec<&str> = prompt.lines().collect();
    assert_eq!(lines.len(), 2, "{prompt}");
    let colour = full.value(0, 1).unwrap().to_string();
    let fruit = full.value(0, 2).unwrap().to_string();
    assert!(lines[0].starts_with(&format!("colour is {colour},")), "{prompt}");
    assert!(lines[0].ends_with(&format!("fruit is {fruit}.")), "{prompt}");
    assert!(lines[1].ends_with("fruit is"), "{prompt}");

    let imp = fitted.impute(&masked, &ImputeOptions::default()).unwrap();
    assert_eq!(imp.fallbacks, 0, "{:?}", imp.columns);
    assert_eq!(imp.columns["fruit"].trimmed, imp.cells.len(), "{:?}", imp.columns);
    let right = imp.cells.iter().filter(|c| Some(&c.value) == full.value(c.cell.row, 2).as_ref()).count();
    assert!(right as f64 >= 0.7 * imp.cells.len() as f64, "retrieval: fruit right in {right} of {}", imp.cells.len());

    // Saved with its reference rows; loaded, the same prompts and fills.
    let dir = tmp.path().join("with-retrieval");
    fitted.save(&dir).unwrap();
    assert!(dir.join("reference.parquet").is_file());
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    assert_eq!(loaded.prompt_text(&masked, 0, 2).unwrap(), prompt);
    assert_eq!(loaded.impute(&masked, &ImputeOptions::default()).unwrap().cells, imp.cells);
    // A save whose reference is gone is refused, naming the file.
    std::fs::remove_file(dir.join("reference.parquet")).unwrap();
    let err = FittedLlmImputer::load(&dir).unwrap_err();
    assert!(err.to_string().contains("reference.parquet"), "{err}");
}

#[test]
fn auto_retrieval_turns_on_where_rows_repeat_records_and_off_elsewhere() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let mut cfg = config(backbone, Objective::Values).with_max_steps(2);
    cfg.retrieval = llm_imputer::RetrievalConfig::default();
    assert_eq!(cfg.retrieval.mode, RetrievalMode::Auto);

    // 200 users of 4 rows each, every row a copy of its user's five independent categories
    // with a quarter of its cells missing: a cell is known only from the user's other rows.
    let mut csv = String::from("a,b,c,d,e\n");
    let mut next = draws(12345);
    for _ in 0..200 {
        let record: Vec<String> = (0..5).map(|_| format!("v{}", next(10))).collect();
        for _ in 0..4 {
            let cells: Vec<&str> = record.iter().map(|v| if next(4) == 0 { "" } else { v.as_str() }).collect();
            csv.push_str(&(cells.join(",") + "\n"));
        }
    }
    let copies = read_csv_bytes(csv.as_bytes(), "copies.csv", &CsvOptions::default()).unwrap();
    let fitted = LlmImputer::new(cfg.clone()).fit(&copies).unwrap();
    let probe = fitted.report().retrieval.clone().unwrap();
    assert!(probe.on && probe.cells >= llm_imputer::PROBE_MIN_CELLS, "{probe:?}");
    assert!(probe.margin() > llm_imputer::PROBE_MARGIN, "{probe:?}");
    assert!(fitted.retrieval_on());
    // The saved settings say what ran, and the reference goes with them.
    assert_eq!(fitted.config().retrieval.mode, RetrievalMode::On);
    let dir = tmp.path().join("auto-on");
    fitted.save(&dir).unwrap();
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    assert!(loaded.retrieval_on());
    assert_eq!(loaded.prompt_text(&copies, 0, 2).unwrap(), fitted.prompt_text(&copies, 0, 2).unwrap());
    assert_eq!(fitted.prompt_text(&copies, 0, 2).unwrap().lines().count(), 4, "three rows, then the question");

    // The fruit table: too few category cells to tell, so off; and `off` asks nothing.
    let fruit = table(96);
    let fitted = LlmImputer::new(cfg.clone()).fit(&fruit).unwrap();
    let probe = fitted.report().retrieval.clone().unwrap();
    assert!(!probe.on && probe.cells < llm_imputer::PROBE_MIN_CELLS, "{probe:?}");
    assert!(!fitted.retrieval_on());
    assert_eq!(fitted.config().retrieval.mode, RetrievalMode::Off);
    let mut off = cfg;
    off.retrieval.mode = RetrievalMode::Off;
    let fitted = LlmImputer::new(off).fit(&copies).unwrap();
    assert!(fitted.report().retrieval.is_none() && !fitted.retrieval_on());
}

#[test]
fn encoder_heads_are_trained_mixed_saved_and_loaded() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let full = table(96);
    let hidden: Vec<(usize, usize)> = (0..96).step_by(3).map(|r| (r, 2)).chain([(4, 3), (7, 3)]).collect();
    let masked = hide(&full, &hidden);
    let mut fitted = LlmImputer::new(config(backbone, Objective::Values).with_head_weight(1.0)).fit(&masked).unwrap();
    let report = fitted.report();
    // A softmax head per scored category, a ridge head for the number; generated columns none.
    let names: Vec<(&str, bool)> = report.heads.iter().map(|h| (h.column.as_str(), h.regression)).collect();
    assert_eq!(names, [("colour", false), ("fruit", false), ("size", true)], "{:?}", report.heads);
    assert!(report.heads.iter().all(|h| h.examples >= 8 && h.skipped == 0), "{:?}", report.heads);
    assert!(report.head_seconds > 0.0);

    // The head alone (weight 1) reads fruit off the hidden state, which carries the colour.
    let imp = fitted.impute(&masked, &ImputeOptions::default()).unwrap();
    assert_eq!(imp.columns["fruit"].method, "scored + head");
    assert_eq!(imp.fallbacks, 0, "{:?}", imp.columns);
    let fruit: Vec<_> = imp.cells.iter().filter(|c| c.cell.col == 2).collect();
    let right = fruit.iter().filter(|c| Some(&c.value) == full.value(c.cell.row, 2).as_ref()).count();
    assert!(right as f64 >= 0.7 * fruit.len() as f64, "head: fruit right in {right} of {}", fruit.len());
    for c in imp.cells.iter().filter(|c| c.cell.col == 3) {
        let x = c.value.as_f64().unwrap();
        assert!((1.0..=7.5).contains(&x), "size {x} outside the observed range");
    }

    // Saved and loaded with its heads: the same fills.
    let dir = tmp.path().join("with-heads");
    fitted.save(&dir).unwrap();
    assert!(dir.join("heads.safetensors").is_file());
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    let again = loaded.impute(&masked, &ImputeOptions::default()).unwrap();
    assert_eq!(again.cells, imp.cells);

    // Weight 0 turns the head off on the same fit; weights outside [0, 1] are refused.
    fitted.set_head_weight(0.0).unwrap();
    assert_eq!(fitted.impute(&masked, &ImputeOptions::default()).unwrap().columns["fruit"].method, "scored");
    assert!(fitted.set_head_weight(1.5).is_err());
}

#[test]
fn a_slow_cpu_time_limit_ends_the_fine_tune_and_the_report_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    // The f32 base is the slow path on every CPU, so `slow_cpu_seconds` applies here.
    let mut cfg = config(backbone, Objective::Values).with_max_steps(1_000_000);
    cfg.slow_cpu_seconds = Some(1.5);
    let data = table(24);
    let fitted = LlmImputer::new(cfg.clone()).fit(&data).unwrap();
    let r = fitted.report();
    // Without held-out cells or gaps nothing times the rest: the fine-tune gets what the fit
    // has left.
    let limit = r.time_limit_s.unwrap();
    assert!(limit > 0.0 && limit < 1.5 && r.reserved_s.is_none(), "{limit} {:?}", r.reserved_s);
    assert!(r.time_limited && r.steps >= 1 && r.steps < 1_000_000, "{} steps", r.steps);
    // Gaps but no held-out cells: once a third of the budget is spent the fill is rehearsed,
    // and the limit keeps its time.
    let mut rehearsed = cfg.clone();
    rehearsed.slow_cpu_seconds = Some(4.0);
    let fitted = LlmImputer::new(rehearsed).fit(&one_hole_per_row().0).unwrap();
    let r = fitted.report();
    let (limit, kept) = (r.time_limit_s.unwrap(), r.reserved_s.unwrap());
    assert!(r.holdout.is_empty() && kept > 0.0 && limit + kept <= 4.0, "limit {limit} s, {kept} s kept");
    assert!(r.time_limited && r.steps > 10, "{} steps", r.steps);
    // With them, the first check (step 10) times a cell's scoring, and the fine-tune's limit
    // leaves room for the last check, the calibration and the fill of the hidden cells.
    let mut checked = cfg.clone();
    checked.slow_cpu_seconds = Some(4.0);
    (checked.examples.holdout_cells, checked.examples.eval_every) = (6, 1_000_000);
    let fitted = LlmImputer::new(checked).fit(&one_hole_per_row().0).unwrap();
    let r = fitted.report();
    let (limit, kept) = (r.time_limit_s.unwrap(), r.reserved_s.unwrap());
    assert!(kept > 0.0 && limit + kept <= 4.0, "limit {limit} s, {kept} s kept");
    assert!(r.time_limited && r.steps > 10 && r.holdout.first().map(|p| p.step) == Some(10), "{} steps", r.steps);
    let note = r.time_limit_note().unwrap();
    assert!(note.contains("kept for the calibration and fill"), "{note}");
    // The user's own limit takes its place; with neither, the step budget runs whole.
    cfg.train.max_seconds = Some(1.0);
    assert_eq!(LlmImputer::new(cfg.clone()).fit(&data).unwrap().report().time_limit_s, Some(1.0));
    let mut whole = cfg.with_max_steps(3);
    (whole.train.max_seconds, whole.slow_cpu_seconds) = (None, None);
    let r = LlmImputer::new(whole).fit(&data).unwrap().report().clone();
    assert_eq!((r.time_limit_s, r.time_limited, r.steps), (None, false, 3));
}

#[test]
fn adapters_on_the_last_blocks_are_saved_as_peft_layers_to_transform_and_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let (data, holes) = one_hole_per_row();
    let mut cfg = config(backbone, Objective::Values).with_max_steps(2);
    cfg.lora = cfg.lora.with_last_layers(1);
    let fitted = LlmImputer::new(cfg.clone()).fit(&data).unwrap();
    assert_eq!(fitted.config().lora.last_layers, Some(1));
    let dir = tmp.path().join("saved");
    fitted.save(&dir).unwrap();
    let adapter: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter/adapter_config.json")).unwrap()).unwrap();
    assert_eq!(adapter["layers_to_transform"], serde_json::json!([1]), "the tiny model's top block of 2");
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    assert_eq!(loaded.config().lora.last_layers, Some(1));
    let (a, b) = (fitted.transform(&data).unwrap(), loaded.transform(&data).unwrap());
    for &(r, c) in &holes {
        assert_eq!(a.value(r, c), b.value(r, c), "the reloaded imputer fills row {r} column {c} the same");
    }
    // By default every block is adapted and the saved adapter lists none.
    cfg.lora.last_layers = None;
    let whole = LlmImputer::new(cfg).fit(&data).unwrap();
    let dir = tmp.path().join("whole");
    whole.save(&dir).unwrap();
    let adapter: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter/adapter_config.json")).unwrap()).unwrap();
    assert!(adapter.get("layers_to_transform").is_none_or(|v| v.is_null()), "{adapter}");
}

#[test]
fn a_shallower_backbone_is_fitted_saved_and_reloaded_with_its_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let (data, _) = one_hole_per_row();
    let cfg = LlmImputerConfig { depth: Some(1), ..config(backbone, Objective::Values).with_max_steps(2) };
    let fitted = LlmImputer::new(cfg).fit(&data).unwrap();
    assert_eq!(fitted.report().blocks, Some((1, 2)), "the last of the tiny model's 2 blocks");
    assert!(fitted.report().blocks_note().unwrap().contains("1 of its 2 blocks"));
    assert!(fitted.report().depth_probe.is_none(), "a depth of the settings' own asks the table nothing");
    let dir = tmp.path().join("saved");
    fitted.save(&dir).unwrap();
    let names: Vec<String> = tch::Tensor::read_safetensors(dir.join("adapter/adapter_model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.contains(".h.0.")), "one block's adapters: {names:?}");
    let loaded = FittedLlmImputer::load(&dir).unwrap();
    assert_eq!(loaded.config().depth, Some(1));
    let (a, b) = (fitted.transform(&data).unwrap(), loaded.transform(&data).unwrap());
    for r in 0..data.num_rows() {
        for c in 0..data.num_columns() {
            assert_eq!(a.value(r, c), b.value(r, c), "the reloaded imputer fills row {r} column {c} the same");
            if !data.is_missing(r, c) {
                assert_eq!(a.value(r, c), data.value(r, c), "observed row {r} column {c} unchanged");
            }
        }
    }
}

#[test]
fn a_slow_cpu_runs_fewer_blocks_only_where_the_columns_predict_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    // The f32 base is the slow path on every CPU, so `slow_cpu_depth` comes into question.
    let cfg = LlmImputerConfig { slow_cpu_depth: Some(1), ..config(backbone, Objective::Values).with_max_steps(2) };

    // The demo table: a hidden persona drives every column.
    let demo = rec_datasets::synthetic::adclick_like(600, 7).unwrap().drop_columns(&["click"]).unwrap();
    let fitted = LlmImputer::new(cfg.clone()).fit(&demo).unwrap();
    let probe = fitted.report().depth_probe.clone().unwrap();
    assert!(probe.shallow && probe.margin() > llm_imputer::DEPTH_PROBE_MARGIN, "{probe:?}");
    assert_eq!(fitted.report().blocks, Some((1, 2)));
    assert_eq!(fitted.config().depth, Some(1), "the depth that ran is saved");

    // Five categories drawn each on its own, the first value half the time: naive Bayes has
    // nothing to add to the mode, so every block runs and nothing is saved as a depth.
    let mut next = draws(99);
    let mut csv = String::from("a,b,c,d,e\n");
    for _ in 0..400 {
        let cells: Vec<String> =
            (0..5).map(|_| if next(2) == 0 { "v0".to_string() } else { format!("v{}", 1 + next(4)) }).collect();
        csv.push_str(&(cells.join(",") + "\n"));
    }
    let free = read_csv_bytes(csv.as_bytes(), "free.csv", &CsvOptions::default()).unwrap();
    let fitted = LlmImputer::new(cfg.clone()).fit(&free).unwrap();
    let probe = fitted.report().depth_probe.clone().unwrap();
    assert!(!probe.shallow && probe.cells >= llm_imputer::PROBE_MIN_CELLS, "{probe:?}");
    assert!(probe.margin() < llm_imputer::DEPTH_PROBE_MARGIN / 2.0, "{probe:?}");
    assert_eq!((fitted.report().blocks, fitted.config().depth), (None, None));
    assert!(fitted.report().blocks_note().is_none());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let backbone = tiny_gpt2_backbone(&tmp.path().join("tiny-gpt2"));
    let cfg = config(backbone.clone(), Objective::FullRow).with_max_steps(1);

    // No complete row for the full-row objective.
    let full = table(6);
    let holes: Vec<(usize, usize)> = (0..6).map(|r| (r, 1 + r % 5)).collect();
    let err = LlmImputer::new(cfg.clone()).fit(&hide(&full, &holes)).unwrap_err();
    assert!(matches!(err, Error::NoTrainingRows { rows: 6, objective: Objective::FullRow }), "{err}");
    assert!(err.to_string().contains("no row to learn from"), "{err}");

    // Only id columns: nothing to impute.
    let ids = full.select(&["id"]).unwrap();
    let err = LlmImputer::new(cfg.clone()).fit(&ids).unwrap_err();
    assert!(err.to_string().contains("no column"), "{err}");

    // A missing backbone names the path.
    let gone = LlmImputerConfig { backbone: Backbone::Gguf(tmp.path().join("nope.gguf")), ..cfg.clone() };
    let err = LlmImputer::new(gone).fit(&full).unwrap_err();
    assert!(err.to_string().contains("nope.gguf"), "{err}");

    // A bad setting.
    let err = LlmImputer::new(cfg.clone().with_lora(0, 8.0)).fit(&full).unwrap_err();
    assert!(err.to_string().contains("lora") && err.to_string().contains("rank"), "{err}");
    // Retrieval asks one cell per prompt: with full rows it is refused before any work.
    let err = LlmImputer::new(cfg.clone().with_retrieval(3)).fit(&full).unwrap_err();
    assert!(err.to_string().contains("retrieval") && err.to_string().contains("full rows"), "{err}");

    // A table of another schema at transform time.
    let fitted = LlmImputer::new(cfg).fit(&full).unwrap();
    let other = full.drop_columns(&["note"]).unwrap();
    assert!(fitted.transform(&other).is_err());

    // A saved imputer with a broken file.
    let dir = tmp.path().join("saved");
    fitted.save(&dir).unwrap();
    std::fs::write(dir.join("imputer.json"), b"{ not json").unwrap();
    let err = FittedLlmImputer::load(&dir).unwrap_err();
    assert!(err.to_string().contains("imputer.json"), "{err}");
}
