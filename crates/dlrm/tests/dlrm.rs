//! Integration tests: shapes, interaction gradients, fitting tiny tasks, save/load, determinism
//! and bad input. Models are tiny so the suite stays within seconds on 2 cores.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use dlrm::{interact, BagMode, Dlrm, DlrmConfig, Error, Interaction, LrSchedule, Optimizer, TargetMap, TaskKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::arrow::array::{Array, AsArray};
use rec_table::arrow::datatypes::{Float64Type, UInt32Type};
use rec_table::{ColumnKind, ColumnSpec, FittedRecommender, Recommender, Schema, Table, Task, Value};
use tch::{Device, Kind, Tensor};

fn tiny() -> DlrmConfig {
    DlrmConfig::default()
        .with_embedding_dim(4)
        .with_bottom_mlp(vec![8, 4])
        .with_top_mlp(vec![16])
        .with_batch_size(32)
        .with_epochs(30)
        .with_lr(1e-2)
        .with_patience(0)
        .with_progress(false)
        .with_device(dlrm::DeviceChoice::Cpu)
}

/// `n` rows: x (numeric), c (categorical a/b/c), s (set over p/q/r), title (text), id, and
/// targets: y_bin = 1 iff (c == a) xor (x > 0); y_reg = 2x + [c == b] + |s|; y_cls = rating
/// 1..3 from y_reg's tertiles.
fn synthetic(n: usize, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schema = Schema::try_new(vec![
        ColumnSpec::new("x", ColumnKind::Numeric),
        ColumnSpec::new("c", ColumnKind::Categorical),
        ColumnSpec::new("s", ColumnKind::SetValued),
        ColumnSpec::new("title", ColumnKind::Text),
        ColumnSpec::new("user", ColumnKind::Id),
        ColumnSpec::new("y_bin", ColumnKind::Numeric),
        ColumnSpec::new("y_reg", ColumnKind::Numeric),
        ColumnSpec::new("y_cls", ColumnKind::Numeric),
    ])
    .unwrap();
    let rows = (0..n)
        .map(|i| {
            let x: f64 = rng.random_range(-1.0..1.0);
            let c = ["a", "b", "c"][rng.random_range(0..3)];
            let s: Vec<String> =
                ["p", "q", "r"].iter().filter(|_| rng.random_bool(0.5)).map(|s| s.to_string()).collect();
            let bin = f64::from((c == "a") ^ (x > 0.0));
            let reg = 2.0 * x + f64::from(c == "b") + s.len() as f64;
            let cls = if reg < 0.5 {
                1.0
            } else if reg < 2.0 {
                2.0
            } else {
                3.0
            };
            vec![
                Some(Value::Number(x)),
                Some(Value::Category(c.into())),
                Some(Value::Set(s)),
                Some(Value::Text(format!("row {i}"))),
                Some(Value::Category(format!("u{}", i % 7))),
                Some(Value::Number(bin)),
                Some(Value::Number(reg)),
                Some(Value::Number(cls)),
            ]
        })
        .collect();
    Table::from_rows(schema, rows).unwrap()
}

fn features_and(table: &Table, target: &str) -> Table {
    table.select(&["x", "c", "s", "title", "user", target]).unwrap()
}

fn f64s(a: &dyn Array) -> Vec<f64> {
    a.as_primitive::<Float64Type>().values().to_vec()
}

#[test]
fn interaction_shapes_follow_the_reference() {
    let opts = (Kind::Float, Device::Cpu);
    let x = Tensor::randn([5, 4], opts);
    let e = [Tensor::randn([5, 4], opts), Tensor::randn([5, 4], opts)];
    // F = 3 vectors → 3 pairs, plus the dense vector.
    assert_eq!(interact(Interaction::Dot, Some(&x), &e).unwrap().size(), [5, 4 + 3]);
    assert_eq!(interact(Interaction::Dot, None, &e).unwrap().size(), [5, 1]);
    assert_eq!(interact(Interaction::Cat, Some(&x), &e).unwrap().size(), [5, 12]);
    // The pair values are the dot products of vectors i > j, row-major: (1,0), (2,0), (2,1).
    let z = interact(Interaction::Dot, Some(&x), &e).unwrap();
    let expect = (&e[1] * &e[0]).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    assert!(z.select(1, 4 + 2).allclose(&expect, 1e-5, 1e-5, false));
    // No vectors at all: an error, not a panic.
    assert!(interact(Interaction::Dot, None, &[]).is_err());
}

#[test]
fn interaction_gradient_matches_finite_differences() {
    let opts = (Kind::Double, Device::Cpu);
    tch::manual_seed(7);
    let x = Tensor::randn([3, 4], opts).set_requires_grad(true);
    let e: Vec<Tensor> = (0..3).map(|_| Tensor::randn([3, 4], opts).set_requires_grad(true)).collect();
    let w = Tensor::randn([3, 4 + 6], opts);
    let f = |x: &Tensor, e: &[Tensor]| (interact(Interaction::Dot, Some(x), e).unwrap() * &w).sum(Kind::Double);
    f(&x, &e).backward();
    let eps = 1e-6;
    let inputs: Vec<&Tensor> = std::iter::once(&x).chain(&e).collect();
    for (k, input) in inputs.iter().enumerate() {
        let grad = input.grad();
        for flat in 0..12 {
            let (r, c) = (flat / 4, flat % 4);
            let numeric = tch::no_grad(|| {
                let shifted = |delta: f64| {
                    let all: Vec<Tensor> = inputs.iter().map(|t| t.detach().copy()).collect();
                    let _ = all[k].get(r).get(c).g_add_scalar_(delta);
                    f(&all[0], &all[1..]).double_value(&[])
                };
                (shifted(eps) - shifted(-eps)) / (2.0 * eps)
            });
            let auto = grad.double_value(&[r, c]);
            assert!((numeric - auto).abs() < 1e-6 * (1.0 + auto.abs()), "input {k} [{r},{c}]: {numeric} vs {auto}");
        }
    }
}

#[test]
fn fits_a_tiny_binary_task() {
    let table = features_and(&synthetic(400, 1), "y_bin");
    let model = Dlrm::new(tiny()).unwrap().fit(&table, "y_bin").unwrap();
    assert_eq!(model.task(), Task::Binary);
    let h = model.history();
    assert_eq!(h.len(), 30);
    assert!(h.last().unwrap().train_loss < 0.25, "loss {:?}", h.last());
    assert!(h.last().unwrap().train_loss < h[0].train_loss);
    let p = model.predict(&table).unwrap();
    assert_eq!(p.len(), 400);
    assert!(f64s(p.as_ref()).iter().all(|p| (0.0..=1.0).contains(p)));
}

#[test]
fn fits_a_tiny_regression_with_cat_interaction_and_sum_bags() {
    let table = features_and(&synthetic(400, 2), "y_reg");
    let config = tiny().with_interaction(Interaction::Cat).with_bag_mode(BagMode::Sum);
    let model = Dlrm::new(config).unwrap().fit(&table, "y_reg").unwrap();
    assert_eq!(model.task(), Task::Regression);
    let pred = f64s(model.predict(&table).unwrap().as_ref());
    let truth = table.numeric("y_reg").unwrap();
    let mse = pred.iter().zip(&truth).map(|(p, t)| (p - t.unwrap()).powi(2)).sum::<f64>() / 400.0;
    assert!(mse < 0.05, "mse {mse}");
}

#[test]
fn multi_class_labels_are_sorted_and_exposed() {
    let table = features_and(&synthetic(300, 3), "y_cls");
    let config = tiny().with_task(TaskKind::MultiClass).with_epochs(20);
    let model = Dlrm::new(config).unwrap().fit(&table, "y_cls").unwrap();
    assert_eq!(model.task(), Task::MultiClass { classes: 3 });
    assert_eq!(model.labels(), [Value::Number(1.0), Value::Number(2.0), Value::Number(3.0)]);
    assert_eq!(model.target_map().class_of(&Value::Number(3.0)), Some(2));
    let pred = model.predict(&table).unwrap();
    let classes = pred.as_primitive::<UInt32Type>();
    let truth = table.numeric("y_cls").unwrap();
    let correct = classes.values().iter().zip(&truth).filter(|(&k, t)| k as f64 + 1.0 == t.unwrap()).count();
    assert!(correct > 240, "{correct}/300 correct");
    let proba = model.predict_proba(&table).unwrap();
    assert!(proba.iter().all(|p| p.len() == 3 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-6));
}

#[test]
fn optimizers_and_schedules_reduce_the_loss() {
    let table = features_and(&synthetic(200, 4), "y_bin");
    for (opt, sched, lr) in [
        (Optimizer::Adagrad, LrSchedule::Constant, 0.05),
        (Optimizer::Sgd { momentum: 0.9 }, LrSchedule::Step { every: 3, gamma: 0.7 }, 0.05),
        (Optimizer::Adam, LrSchedule::Cosine { warmup_steps: 5 }, 0.01),
        (Optimizer::AdamW, LrSchedule::Constant, 0.01),
    ] {
        let config = tiny().with_optimizer(opt).with_lr_schedule(sched).with_lr(lr).with_epochs(10);
        let model = Dlrm::new(config).unwrap().fit(&table, "y_bin").unwrap();
        let h = model.history();
        assert!(h.last().unwrap().train_loss < h[0].train_loss * 0.9, "{opt:?}: {h:?}");
    }
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let train = features_and(&synthetic(200, 5), "y_reg");
    let valid = features_and(&synthetic(100, 6), "y_reg");
    let config = tiny().with_patience(2).with_epochs(200).with_lr(5e-2);
    let dlrm = Dlrm::new(config).unwrap();
    let model = dlrm.fit_with_validation(&train, Some(&valid), "y_reg").unwrap();
    let h = model.history();
    assert!(h.len() < 200, "never stopped");
    let best = h.iter().map(|e| e.valid_loss.unwrap()).fold(f64::INFINITY, f64::min);
    let pred = f64s(model.predict(&valid).unwrap().as_ref());
    let TargetMap::Regression { std, .. } = model.target_map().clone() else { panic!() };
    let truth = valid.numeric("y_reg").unwrap();
    let mse = pred.iter().zip(&truth).map(|(p, t)| (p - t.unwrap()).powi(2)).sum::<f64>() / 100.0;
    assert!((mse / (std * std) - best).abs() < 1e-3, "restored {} vs best {best}", mse / (std * std));
    // A held-out fraction works the same way.
    let model = Dlrm::new(tiny().with_validation_fraction(0.2).with_epochs(3)).unwrap().fit(&train, "y_reg").unwrap();
    assert!(model.history().iter().all(|e| e.valid_loss.is_some()));
    // ... and is the slice `validation_split` draws: passing that slice explicitly trains the
    // same model, which is how a caller holds the slice fixed while the model's seed varies.
    let (rest, slice) = dlrm::validation_split(&train, 0.2, 42).unwrap();
    assert_eq!((rest.num_rows(), slice.num_rows()), (160, 40));
    let explicit = Dlrm::new(tiny().with_epochs(3)).unwrap().fit_with_validation(&rest, Some(&slice), "y_reg").unwrap();
    assert_eq!(explicit.predict_proba(&train).unwrap(), model.predict_proba(&train).unwrap());
    let (_, other) = dlrm::validation_split(&train, 0.2, 43).unwrap();
    assert_ne!(other, slice, "another seed draws another slice");
}

#[test]
fn save_load_round_trip_gives_identical_predictions() {
    let table = features_and(&synthetic(150, 7), "y_cls");
    let model = Dlrm::new(tiny().with_epochs(3)).unwrap().fit(&table, "y_cls").unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let loaded = dlrm::FittedDlrm::load(dir.path(), Some(Device::Cpu)).unwrap();
    assert_eq!(loaded.features(), model.features());
    assert_eq!(loaded.predict_proba(&table).unwrap(), model.predict_proba(&table).unwrap());
    assert_eq!(loaded.predict(&table).unwrap().as_ref(), model.predict(&table).unwrap().as_ref());

    // A weight file that does not match the config is refused with the tensor's name.
    let other = Dlrm::new(tiny().with_epochs(1).with_top_mlp(vec![8])).unwrap().fit(&table, "y_cls").unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    other.save(dir2.path()).unwrap();
    std::fs::copy(dir2.path().join(dlrm::WEIGHTS_FILE), dir.path().join(dlrm::WEIGHTS_FILE)).unwrap();
    let err = dlrm::FittedDlrm::load(dir.path(), Some(Device::Cpu)).unwrap_err();
    assert!(matches!(err, Error::Weights { .. }), "{err}");
    assert!(err.to_string().contains("top."), "{err}");
}

#[test]
fn predictions_do_not_depend_on_how_rows_are_chunked() {
    // More rows than one evaluation chunk (8,192), with set-valued bags of varying length: each
    // chunk gathers its own rows' bags, so a row must score the same whatever chunk it is in.
    let train = features_and(&synthetic(200, 9), "y_reg");
    let model = Dlrm::new(tiny().with_epochs(2)).unwrap().fit(&train, "y_reg").unwrap();
    let big = features_and(&synthetic(9000, 10), "y_reg");
    let whole = model.predict_proba(&big).unwrap();
    let rows: Vec<usize> = (0..9000).collect();
    let (a, b) = rows.split_at(5000);
    let mut parts = model.predict_proba(&big.take_rows(a).unwrap()).unwrap();
    parts.extend(model.predict_proba(&big.take_rows(b).unwrap()).unwrap());
    assert_eq!(whole, parts);
}

#[test]
fn same_seed_same_predictions() {
    let table = features_and(&synthetic(200, 8), "y_reg");
    let fit = |seed| {
        let m = Dlrm::new(tiny().with_epochs(3).with_seed(seed)).unwrap().fit(&table, "y_reg").unwrap();
        f64s(m.predict(&table).unwrap().as_ref())
    };
    assert_eq!(fit(11), fit(11));
    assert_ne!(fit(11), fit(12));
}

#[test]
fn missing_cells_and_unseen_labels_are_encoded_not_refused() {
    let table = features_and(&synthetic(100, 9), "y_bin");
    let model = Dlrm::new(tiny().with_epochs(2)).unwrap().fit(&table, "y_bin").unwrap();
    let schema = table.schema().clone();
    let test = Table::from_rows(
        schema,
        vec![
            vec![None, None, None, None, None, None],
            vec![
                Some(Value::Number(0.5)),
                Some(Value::Category("never seen".into())),
                Some(Value::Set(vec!["zz".into()])),
                None,
                Some(Value::Category("new user".into())),
                None,
            ],
        ],
    )
    .unwrap();
    let p = f64s(model.predict(&test).unwrap().as_ref());
    assert!(p.iter().all(|p| p.is_finite()));
    // Without the target column, and with no rows at all.
    let no_target = test.select(&["x", "c", "s", "title", "user"]).unwrap();
    assert_eq!(model.predict(&no_target).unwrap().len(), 2);
    assert_eq!(model.predict(&no_target.take_rows(&[]).unwrap()).unwrap().len(), 0);
}

#[test]
fn bad_input_gives_clear_errors() {
    let table = features_and(&synthetic(50, 10), "y_bin");
    let dlrm = Dlrm::new(tiny().with_epochs(1)).unwrap();
    let err = dlrm.fit_with_validation(&table, None, "nope").unwrap_err();
    assert!(matches!(err, Error::MissingTarget { .. }), "{err}");
    let err = dlrm.fit_with_validation(&table, None, "title").unwrap_err();
    assert!(matches!(err, Error::TargetKind { .. }), "{err}");
    let err = Dlrm::new(tiny().with_task(TaskKind::Binary))
        .unwrap()
        .fit_with_validation(&features_and(&synthetic(50, 10), "y_reg"), None, "y_reg")
        .unwrap_err();
    assert!(err.to_string().contains("only 0 and 1"), "{err}");
    let err = Dlrm::new(tiny().with_task(TaskKind::Regression))
        .unwrap()
        .fit_with_validation(&table.select(&["x", "c"]).unwrap(), None, "c")
        .unwrap_err();
    assert!(err.to_string().contains("numeric target"), "{err}");
    let err = dlrm.fit_with_validation(&table.take_rows(&[]).unwrap(), None, "y_bin").unwrap_err();
    assert!(matches!(err, Error::EmptyTable(_)), "{err}");
    let err = dlrm.fit_with_validation(&table.select(&["title", "y_bin"]).unwrap(), None, "y_bin").unwrap_err();
    assert!(matches!(err, Error::NoFeatures(_)), "{err}");
    // The trait's fit returns the crate's own error; converted for mixed-crate code, it becomes
    // rec_table::Error::External with ours as source.
    let err = dlrm.fit(&table, "title").unwrap_err();
    assert!(err.to_string().contains("title"), "{err}");
    let err = rec_table::Error::from(err);
    assert!(matches!(err, rec_table::Error::External { .. }), "{err}");
    assert!(std::error::Error::source(&err).unwrap().to_string().contains("title"));
    // A prediction table without a feature column, or with another kind.
    let model = dlrm.fit(&table, "y_bin").unwrap();
    let err = model.predict(&table.select(&["x", "s", "title", "user"]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("'c'"), "{err}");
    let renamed = Table::from_arrays(
        Schema::try_new(
            table
                .schema()
                .columns()
                .iter()
                .map(|c| if c.name == "user" { ColumnSpec::new("user", ColumnKind::Categorical) } else { c.clone() })
                .collect(),
        )
        .unwrap(),
        table.batch().columns().to_vec(),
        table.num_rows(),
    )
    .unwrap();
    let err = model.predict(&renamed).unwrap_err();
    assert!(matches!(err, Error::FeatureMismatch { .. }), "{err}");
    // A config whose dot interaction cannot be built.
    let err = Dlrm::new(tiny().with_bottom_mlp(vec![]).with_epochs(1)).unwrap().fit(&table, "y_bin").unwrap_err();
    assert!(err.to_string().contains("embedding_dim"), "{err}");
}

#[test]
fn label_mapping_of_categorical_binary_target() {
    let table = features_and(&synthetic(60, 11), "y_bin");
    let y: Vec<Option<Value>> = table
        .numeric("y_bin")
        .unwrap()
        .into_iter()
        .map(|v| Some(Value::Category(if v == Some(1.0) { "yes".into() } else { "no".into() })))
        .collect();
    let mut columns: Vec<Vec<Option<Value>>> = (0..5).map(|c| table.column_values(c)).collect();
    columns.push(y);
    let schema = Schema::try_new(
        table.schema().columns()[..5]
            .iter()
            .cloned()
            .chain([ColumnSpec::new("label", ColumnKind::Categorical)])
            .collect(),
    )
    .unwrap();
    let table = Table::from_columns(schema, columns).unwrap();
    let model = Dlrm::new(tiny().with_epochs(1)).unwrap().fit(&table, "label").unwrap();
    assert_eq!(model.task(), Task::Binary);
    assert_eq!(model.labels(), [Value::Category("no".into()), Value::Category("yes".into())]);
}

/// Ratings where each user has a strong personal offset and a group (a/b) that shifts the
/// rating by 3: users `from..to`, 8 rows each.
fn cold_start_table(from: usize, to: usize, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schema = Schema::try_new(vec![
        ColumnSpec::new("user_id", ColumnKind::Id),
        ColumnSpec::new("group", ColumnKind::Categorical),
        ColumnSpec::new("x", ColumnKind::Numeric),
        ColumnSpec::new("rating", ColumnKind::Numeric),
    ])
    .unwrap();
    let rows = (from..to)
        .flat_map(|u| {
            let group = if u % 2 == 0 { "a" } else { "b" };
            let offset = ((u * 37 % 11) as f64 - 5.0) / 5.0;
            (0..8).map(move |_| (u, group, offset)).collect::<Vec<_>>()
        })
        .map(|(u, group, offset)| {
            let x: f64 = rng.random_range(-1.0..1.0);
            let rating = 1.0 + 3.0 * f64::from(group == "b") + offset + 0.5 * x;
            vec![
                Some(Value::Category(format!("u{u}"))),
                Some(Value::Category(group.into())),
                Some(Value::Number(x)),
                Some(Value::Number(rating)),
            ]
        })
        .collect();
    Table::from_rows(schema, rows).unwrap()
}

#[test]
fn id_dropout_trains_the_unknown_id_for_unseen_users() {
    let train = cold_start_table(0, 120, 1);
    let test = cold_start_table(120, 160, 2); // users never seen in training
    let rmse = |dropout: f64| {
        let config = tiny().with_id_dropout(dropout).with_epochs(40).with_seed(3);
        let model = Dlrm::new(config).unwrap().fit(&train, "rating").unwrap();
        let pred = f64s(model.predict(&test).unwrap().as_ref());
        let truth = test.numeric("rating").unwrap();
        (pred.iter().zip(&truth).map(|(p, t)| (p - t.unwrap()).powi(2)).sum::<f64>() / pred.len() as f64).sqrt()
    };
    let (without, with) = (rmse(0.0), rmse(0.3));
    eprintln!("unseen users: rmse {without:.3} without id dropout, {with:.3} with");
    // The personal offsets (sd ~0.63) cannot be known for a new user; the group (±1.5) can.
    assert!(with < 0.8, "with id dropout the model predicts unseen users from their group: rmse {with}");
    assert!(with < without, "id dropout {with} vs none {without}");
}

/// Mean L2 norm of the rows of the largest embedding table (the user ids here) of a saved
/// model.
fn id_table_norm(model: &dlrm::FittedDlrm) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let blob = std::fs::read(dir.path().join(dlrm::WEIGHTS_FILE)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&blob).unwrap();
    let (_, view) = st
        .tensors()
        .into_iter()
        .filter(|(name, _)| name.starts_with("emb."))
        .max_by_key(|(_, v)| v.shape()[0])
        .unwrap();
    let d = view.shape()[1];
    let xs: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let rows = xs.len() / d;
    xs.chunks_exact(d).map(|r| r.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()).sum::<f64>() / rows as f64
}

#[test]
fn id_embedding_l2_shrinks_the_id_table_only_where_asked() {
    let train = cold_start_table(0, 120, 1);
    let fit = |l2: f64| Dlrm::new(tiny().with_id_embedding_l2(l2).with_seed(5)).unwrap().fit(&train, "rating").unwrap();
    let (free, held) = (id_table_norm(&fit(0.0)), id_table_norm(&fit(0.5)));
    eprintln!("mean user-embedding norm: {free:.3} without the penalty, {held:.3} with 0.5");
    assert!(held < 0.5 * free, "the penalty shrinks the user embeddings: {held} vs {free}");
}

#[test]
fn dropout_acts_in_training_only() {
    let train = cold_start_table(0, 60, 1);
    let fit =
        |p: f64| Dlrm::new(tiny().with_dropout(p).with_epochs(5).with_seed(5)).unwrap().fit(&train, "rating").unwrap();
    let (plain, dropped) = (fit(0.0), fit(0.5));
    let loss = |m: &dlrm::FittedDlrm| m.history().last().unwrap().train_loss;
    assert!(loss(&dropped) > loss(&plain), "dropout makes training noisier: {} vs {}", loss(&dropped), loss(&plain));
    // Predictions are deterministic: no dropout at inference.
    let a = f64s(dropped.predict(&train).unwrap().as_ref());
    let b = f64s(dropped.predict(&train).unwrap().as_ref());
    assert_eq!(a, b);
}

/// Ratings where a user's taste (a or b, hidden) decides: rating 4 for an item of their type, 2
/// for the other. Users `from..to`, 6 distinct items each: the first 5 mostly (85%) of their
/// type, the 6th of either type at random; returns (the first 5 of each user, the 6th).
fn taste_tables(from: usize, to: usize, seed: u64) -> (Table, Table) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let schema = Schema::try_new(vec![
        ColumnSpec::new("user_id", ColumnKind::Id),
        ColumnSpec::new("item_id", ColumnKind::Id),
        ColumnSpec::new("rating", ColumnKind::Numeric),
    ])
    .unwrap();
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for u in from..to {
        let taste = u % 2;
        let mut seen = Vec::new();
        while seen.len() < 6 {
            let p_own = if seen.len() < 5 { 0.85 } else { 0.5 };
            let kind = if rng.random_bool(p_own) { taste } else { 1 - taste };
            let item = 2 * rng.random_range(0..6) + kind; // items 0..12, type = item % 2
            if !seen.contains(&item) {
                seen.push(item);
            }
        }
        for (k, &item) in seen.iter().enumerate() {
            let rating = if item % 2 == taste { 4.0 } else { 2.0 } + rng.random_range(-0.2..0.2);
            let row = vec![
                Some(Value::Category(format!("u{u}"))),
                Some(Value::Category(format!("i{item}"))),
                Some(Value::Number(rating)),
            ];
            if k < 5 { &mut first } else { &mut last }.push(row);
        }
    }
    (Table::from_rows(schema.clone(), first).unwrap(), Table::from_rows(schema, last).unwrap())
}

#[test]
fn history_bags_carry_what_the_users_rated() {
    let (train, test) = taste_tables(0, 240, 7);
    // min_count 10: every user id (5 rows each) goes to the unknown index, so only the bag of
    // the user's other items can tell their taste.
    let fit = |history: Vec<dlrm::HistoryBag>| {
        let config = tiny().with_min_count(10).with_epochs(40).with_seed(3).with_history(history);
        Dlrm::new(config).unwrap().fit(&train, "rating").unwrap()
    };
    let rmse = |model: &dlrm::FittedDlrm| {
        let pred = f64s(model.predict(&test).unwrap().as_ref());
        let truth = test.numeric("rating").unwrap();
        (pred.iter().zip(&truth).map(|(p, t)| (p - t.unwrap()).powi(2)).sum::<f64>() / pred.len() as f64).sqrt()
    };
    let with = fit(vec![dlrm::HistoryBag::new("user_id", "item_id")]);
    let (without, with_rmse) = (rmse(&fit(Vec::new())), rmse(&with));
    eprintln!("held-out ratings: rmse {without:.3} without history bags, {with_rmse:.3} with");
    // Without it the best guess follows the item's type, right for the 85% of training rows
    // and for half of the held-out ones: rmse about 1.2.
    assert!(with_rmse < 0.7, "the bag tells the taste: rmse {with_rmse}");
    assert!(without > 1.0, "without it the taste is unknown: rmse {without}");
    // The bags are saved with the model.
    let dir = tempfile::tempdir().unwrap();
    with.save(dir.path()).unwrap();
    let loaded = dlrm::FittedDlrm::load(dir.path(), Some(Device::Cpu)).unwrap();
    assert_eq!(loaded.predict_proba(&test).unwrap(), with.predict_proba(&test).unwrap());
    // A table without the key column is refused by name.
    let err = with.predict(&test.drop_columns(&["user_id"]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("user_id"), "{err}");
}
