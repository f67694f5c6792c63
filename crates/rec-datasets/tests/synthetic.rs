//! The synthetic generators: deterministic, and with dependencies strong enough to impute from.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
// Index loops over rows read more plainly than zipped iterators in these checks.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use rec_datasets::split::{entity_split, random_split, Fractions};
use rec_datasets::synthetic::{
    adclick_like, adclick_like_bayes_fill, adclick_like_posterior, correlated_gaussians, mixed, DEVICES,
};
use rec_table::{Table, Value};

fn labels(t: &Table, col: usize) -> Vec<String> {
    t.column_values(col).into_iter().map(|v| format!("{}", v.unwrap())).collect()
}

/// Accuracy on the second half of predicting `target` by the most frequent label given the
/// other categorical columns (learned on the first half), and of the overall mode.
fn conditional_vs_mode(t: &Table, target: usize, others: &[usize]) -> (f64, f64) {
    let y = labels(t, target);
    let xs: Vec<Vec<String>> = others.iter().map(|&c| labels(t, c)).collect();
    let key = |r: usize| xs.iter().map(|x| x[r].as_str()).collect::<Vec<_>>().join("|");
    let half = t.num_rows() / 2;
    let mut by_key: HashMap<String, HashMap<&str, usize>> = HashMap::new();
    let mut overall: HashMap<&str, usize> = HashMap::new();
    for r in 0..half {
        *by_key.entry(key(r)).or_default().entry(&y[r]).or_default() += 1;
        *overall.entry(&y[r]).or_default() += 1;
    }
    let argmax = |m: &HashMap<&str, usize>| m.iter().max_by_key(|(l, n)| (**n, *l)).map(|(l, _)| l.to_string());
    let mode = argmax(&overall).unwrap();
    let (mut hit, mut hit_mode) = (0, 0);
    for r in half..t.num_rows() {
        let guess = by_key.get(&key(r)).and_then(argmax).unwrap_or_else(|| mode.clone());
        hit += usize::from(guess == y[r]);
        hit_mode += usize::from(mode == y[r]);
    }
    let n = (t.num_rows() - half) as f64;
    (hit as f64 / n, hit_mode as f64 / n)
}

#[test]
fn adclick_like_is_deterministic_and_shaped() {
    let a = adclick_like(300, 5).unwrap();
    assert_eq!(a, adclick_like(300, 5).unwrap());
    assert_ne!(a, adclick_like(300, 6).unwrap());
    assert_eq!(
        a.schema().names(),
        ["age", "gender", "device_type", "ad_position", "browsing_history", "time_of_day", "click"]
    );
    assert_eq!(a.missing_cells().count(), 0);
    let ages = a.numeric("age").unwrap();
    assert!(ages.iter().all(|x| (18.0..=64.0).contains(&x.unwrap())));
}

#[test]
fn adclick_like_columns_are_predictable_from_the_others() {
    let t = adclick_like(8_000, 11).unwrap();
    // Each categorical column from the two most related others, and click from the rest.
    for (target, others, margin) in [
        (2, vec![3, 4], 0.3),     // device from position and history
        (3, vec![2], 0.3),        // position from device
        (4, vec![2, 5], 0.25),    // history from device and time
        (5, vec![4], 0.3),        // time from history
        (1, vec![2, 4, 5], 0.15), // gender from device, history, time
        (6, vec![3, 4, 5], 0.1),  // click from position, history, time
    ] {
        let (cond, mode) = conditional_vs_mode(&t, target, &others);
        eprintln!("column {target}: conditional mode {cond:.3}, overall mode {mode:.3}");
        assert!(cond > mode + margin, "column {target}: {cond:.3} vs mode {mode:.3}");
    }
    // Age: mean given browsing history beats the overall mean by a wide margin.
    let ages: Vec<f64> = t.numeric("age").unwrap().into_iter().map(Option::unwrap).collect();
    let hist = labels(&t, 4);
    let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
    for (a, h) in ages.iter().zip(&hist) {
        let e = sums.entry(h).or_default();
        e.0 += a;
        e.1 += 1.0;
    }
    let mean = ages.iter().sum::<f64>() / ages.len() as f64;
    let mae =
        |f: &dyn Fn(usize) -> f64| (0..ages.len()).map(|r| (ages[r] - f(r)).abs()).sum::<f64>() / ages.len() as f64;
    let cond = mae(&|r| sums[hist[r].as_str()].0 / sums[hist[r].as_str()].1);
    let flat = mae(&|_| mean);
    eprintln!("age MAE: by history {cond:.2}, overall mean {flat:.2}");
    assert!(cond < 0.7 * flat, "age MAE {cond:.2} vs {flat:.2}");
}

#[test]
fn correlated_gaussians_have_the_correlation() {
    let t = correlated_gaussians(20_000, 3, 0.7, 2).unwrap();
    let x: Vec<Vec<f64>> =
        (0..3).map(|j| t.numeric(&format!("x{j}")).unwrap().into_iter().map(Option::unwrap).collect()).collect();
    let corr = |a: &[f64], b: &[f64]| {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / n;
        let sa = (a.iter().map(|x| (x - ma).powi(2)).sum::<f64>() / n).sqrt();
        let sb = (b.iter().map(|y| (y - mb).powi(2)).sum::<f64>() / n).sqrt();
        cov / (sa * sb)
    };
    assert!((corr(&x[0], &x[1]) - 0.7).abs() < 0.02);
    assert!((corr(&x[1], &x[2]) - 0.7).abs() < 0.02);
    assert!(correlated_gaussians(10, 2, 1.5, 1).is_err());
    assert_eq!(correlated_gaussians(10, 2, 0.3, 9).unwrap(), correlated_gaussians(10, 2, 0.3, 9).unwrap());
}

#[test]
fn mixed_has_every_kind_and_planted_genres() {
    let t = mixed(4_000, 3).unwrap();
    let kinds: Vec<_> = t.schema().columns().iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["id", "categorical", "numeric", "set_valued", "text", "numeric"]);
    // Segment predicted from whether the set contains its first genre.
    let seg = labels(&t, 1);
    let hits = (0..t.num_rows())
        .filter(|&r| {
            let set = t.value(r, 3).unwrap();
            let g = set.as_set().unwrap();
            let guess = if g.iter().any(|x| x == "Animation") {
                "family"
            } else if g.iter().any(|x| x == "Action") {
                "thrill"
            } else {
                "arthouse"
            };
            guess == seg[r]
        })
        .count();
    assert!(hits as f64 / 4_000.0 > 0.75);
}

#[test]
fn splits_are_seeded_and_respect_entities() {
    let t = mixed(1_000, 1).unwrap();
    let s = entity_split(&t, "segment", Fractions::train_test(0.5).unwrap(), 3).unwrap();
    let seg = labels(&t, 1);
    let train: std::collections::HashSet<_> = s.train.iter().map(|&r| &seg[r]).collect();
    assert!(s.test.iter().all(|&r| !train.contains(&seg[r])));
    assert_eq!(s.len(), 1_000);
    let a = random_split(1_000, Fractions::try_new(0.6, 0.2, 0.2).unwrap(), 8);
    assert_eq!((a.train.len(), a.validation.len(), a.test.len()), (600, 200, 200));
    assert_ne!(a, random_split(1_000, Fractions::try_new(0.6, 0.2, 0.2).unwrap(), 9));
    let parts = a.apply(&t).unwrap();
    assert_eq!(parts.validation.value(0, 0), t.value(a.validation[0], 0));
}

/// `table` with the cells `hide(row, col)` says missing.
fn with_holes(t: &Table, hide: impl Fn(usize, usize) -> bool) -> Table {
    let cols = (0..t.num_columns())
        .map(|c| t.column_values(c).into_iter().enumerate().map(|(r, v)| if hide(r, c) { None } else { v }).collect())
        .collect();
    Table::from_columns(t.schema().clone(), cols).unwrap()
}

#[test]
fn the_bayes_posterior_is_calibrated_and_beats_what_can_be_learnt() {
    // Device hidden everywhere, age hidden in every other row: the posterior's argmax must be
    // right as often as its own confidence says (a wrong link, say device → position swapped,
    // keeps it confident and makes it wrong), and no estimate learnt from the data may beat it.
    let t = adclick_like(20_000, 3).unwrap();
    let (device, age) = (2, 0);
    let masked = with_holes(&t, |r, c| c == device || (c == age && r % 2 == 0));
    let truth = labels(&t, device);
    let (mut hits, mut confidence) = (0.0, 0.0);
    for r in 0..t.num_rows() {
        let post = adclick_like_posterior(&masked, r).unwrap();
        assert!((post.persona.iter().sum::<f64>() - 1.0).abs() < 1e-9, "row {r}: {:?}", post.persona);
        assert!((post.device.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let best = (0..3).max_by(|&a, &b| post.device[a].total_cmp(&post.device[b])).unwrap();
        hits += f64::from(u8::from(DEVICES[best] == truth[r]));
        confidence += post.device[best];
    }
    let n = t.num_rows() as f64;
    let (accuracy, confidence) = (hits / n, confidence / n);
    assert!((accuracy - confidence).abs() < 0.015, "accuracy {accuracy} against confidence {confidence}");
    // The same question answered by counting labels on half the rows (the other columns known).
    let (learnt, mode) = conditional_vs_mode(&t, device, &[1, 3, 4, 5]);
    let filled = adclick_like_bayes_fill(&masked).unwrap();
    let second_half = t.num_rows() / 2..t.num_rows();
    let bayes = second_half.clone().filter(|&r| filled.value(r, device) == t.value(r, device)).count() as f64
        / second_half.len() as f64;
    assert!(bayes > mode + 0.3, "bayes {bayes}, mode {mode}");
    assert!(bayes >= learnt - 0.01, "bayes {bayes} below a learnt table's {learnt}");
}

#[test]
fn the_bayes_fill_fills_holes_only_and_names_bad_labels() {
    let t = adclick_like(400, 5).unwrap();
    let masked = with_holes(&t, |r, c| (r + c) % 7 == 0);
    let filled = adclick_like_bayes_fill(&masked).unwrap();
    let click = t.schema().index_of("click").unwrap();
    let mut age_sq = (0.0, 0.0, 0);
    for r in 0..t.num_rows() {
        for c in 0..t.num_columns() {
            match masked.value(r, c) {
                Some(v) => assert_eq!(filled.value(r, c), Some(v), "observed cell ({r}, {c}) changed"),
                None if c == click => assert!(filled.is_missing(r, c)),
                None => assert!(!filled.is_missing(r, c), "cell ({r}, {c}) left empty"),
            }
        }
        if masked.is_missing(r, 0) {
            let (Some(Value::Number(a)), Some(Value::Number(f))) = (t.value(r, 0), filled.value(r, 0)) else {
                panic!("age is numeric")
            };
            age_sq = (age_sq.0 + (a - f).powi(2), age_sq.1 + (a - 41.25f64).powi(2), age_sq.2 + 1);
        }
    }
    // Ages are drawn around 22, 36, 47 or 60 (sd 4): the posterior mean is far closer than the
    // overall mean.
    assert!(age_sq.2 > 30 && age_sq.0 < 0.3 * age_sq.1, "{age_sq:?}");

    let gender = t.schema().index_of("gender").unwrap();
    let bad = with_holes(&t, |r, c| r == 3 && c == gender)
        .with_filled([(rec_table::Cell { row: 3, col: gender }, Value::Category("Mal".into()))])
        .unwrap();
    let err = adclick_like_posterior(&bad, 3).unwrap_err().to_string();
    assert!(err.contains("row 3") && err.contains("gender") && err.contains("Mal"), "{err}");
    assert!(adclick_like_posterior(&t, 400).is_err());
}
