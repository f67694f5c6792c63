//! Your own table, end to end, without libtorch: `mask` hides cells and writes their truth,
//! `impute` fills them, `score` scores any fill against the truth, and `quality` runs the
//! imputers on the file. The fixture is generated here (no shared data needed).
#![allow(clippy::unwrap_used, reason = "tests unwrap to fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn recimpute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recimpute")).args(args).output().expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected a clear failure: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 1,000-row ad-click table whose columns predict each other: the device follows the age
/// band, the browsing habit follows the device, `clicked` (0/1) follows both, `note` is free
/// text and `user_id` a key. Deterministic (a fixed linear congruential generator).
fn write_ads(dir: &Path) -> PathBuf {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut text = String::from("user_id,age,device,browsing,clicked,note\n");
    for i in 0..1000 {
        let young = next() < 0.5;
        let age = if young { 18.0 + 12.0 * next() } else { 45.0 + 20.0 * next() }.round();
        let device = if young == (next() < 0.85) { "Mobile" } else { "Desktop" };
        let browsing = match (device, next() < 0.8) {
            ("Mobile", true) => "Social",
            ("Mobile", false) => "News",
            (_, true) => "News",
            _ => "Shopping",
        };
        // Young mobile users click far more: a signal the recommender can learn.
        let clicked = u8::from(next() < if young && device == "Mobile" { 0.7 } else { 0.15 });
        text.push_str(&format!("u{i},{age},{device},{browsing},{clicked},visit {i} on day {}\n", i % 7));
    }
    let path = dir.join("ads.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn mask_impute_score_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ads = write_ads(dir.path());
    let (masked, truth, filled) =
        (dir.path().join("masked.csv"), dir.path().join("truth.csv"), dir.path().join("filled.csv"));
    // Free text is hidden only when named: here every column but the id.
    let columns = "age,device,browsing,clicked,note";
    let said = ok(&recimpute(&[
        "mask",
        s(&ads),
        s(&masked),
        "--truth",
        s(&truth),
        "--rate",
        "0.1",
        "--seed",
        "3",
        "--columns",
        columns,
    ]));
    assert!(said.contains("hid "), "{said}");

    // The truth lists exactly the cells the masked file lost, with their original text; ids
    // are never hidden.
    let original: Vec<Vec<String>> = rows(&ads);
    let holed: Vec<Vec<String>> = rows(&masked);
    let header: Vec<String> =
        std::fs::read_to_string(&ads).unwrap().lines().next().unwrap().split(',').map(String::from).collect();
    let truth_rows = rows(&truth);
    let mut lost = 0;
    for (r, (a, b)) in original.iter().zip(&holed).enumerate() {
        for (c, (x, y)) in a.iter().zip(b).enumerate() {
            if y.is_empty() {
                lost += 1;
                let listed = truth_rows.iter().find(|t| t[0] == r.to_string() && t[1] == header[c]).unwrap();
                assert_eq!(&listed[2], x, "row {r} column {}", header[c]);
                assert_ne!(header[c], "user_id");
            } else {
                assert_eq!(x, y, "an observed cell changed at row {r} column {}", header[c]);
            }
        }
    }
    assert_eq!(lost, truth_rows.len());
    assert!(lost > 300, "about 10% of 5 columns x 1000 rows: {lost}");

    // An unfilled file scores nothing and says so.
    let json = dir.path().join("scores.json");
    let said = ok(&recimpute(&["score", s(&truth), s(&masked), "--json", s(&json)]));
    assert!(said.contains("still empty (not scored)"), "{said}");
    let scored: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let unfilled: u64 = scored["unfilled"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let unscored: u64 = scored["unscored"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!((unfilled + unscored) as usize, lost);
    assert_eq!(
        scored["unscored"]["note"].as_u64().unwrap() as usize,
        truth_rows.iter().filter(|t| t[1] == "note").count()
    );

    // KNN, through the one registry, learns the planted dependencies; the mode cannot.
    let accuracy = |method: &str| {
        ok(&recimpute(&["impute", s(&masked), s(&filled), "--method", method]));
        ok(&recimpute(&["score", s(&truth), s(&filled), "--json", s(&json)]));
        let scored: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert!(scored["unfilled"].as_object().unwrap().is_empty(), "{method} left hidden cells empty: {scored}");
        let columns = scored["report"]["columns"].as_array().unwrap();
        let device = columns.iter().find(|c| c["column"] == "device").unwrap();
        device["metrics"]["accuracy"].as_f64().unwrap()
    };
    let (knn, mode) = (accuracy("knn"), accuracy("mode"));
    // The hidden free-text cells stay empty, and the command says so and why.
    let out = recimpute(&["impute", s(&masked), s(&filled), "--method", "mean"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("cells left empty: note") && err.contains("free text"), "{err}");
    assert!(knn > mode + 0.1, "knn {knn} vs mode {mode}");
}

/// The cells of a CSV without its header, split on commas (the fixture has no quotes).
fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn quality_on_a_file_scores_the_cells_mask_hides() {
    let dir = tempfile::tempdir().unwrap();
    let ads = write_ads(dir.path());
    let out = dir.path().join("quality");
    ok(&recimpute(&[
        "quality",
        s(&ads),
        "--imputers",
        "mode,knn",
        "--rates",
        "0.2",
        "--seeds",
        "5",
        "--columns",
        "device,browsing",
        "--out",
        s(&out),
    ]));
    let cell: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("cells/ads.csv__knn__mcar__r0200__s5.json")).unwrap()).unwrap();
    let columns: Vec<&str> =
        cell["report"]["columns"].as_array().unwrap().iter().map(|c| c["column"].as_str().unwrap()).collect();
    assert_eq!(columns, ["device", "browsing"], "only the chosen columns are hidden");
    let report = std::fs::read_to_string(out.join("quality.md")).unwrap();
    assert!(report.contains("## ads.csv — MCAR 20% (1 seed)"), "{report}");
    assert!(report.contains("| column | metric | mode | knn |"), "{report}");

    // `mask` with the same seed, rate and columns hides the very cells the grid scored.
    let (masked, truth) = (dir.path().join("m.csv"), dir.path().join("t.csv"));
    ok(&recimpute(&[
        "mask",
        s(&ads),
        s(&masked),
        "--truth",
        s(&truth),
        "--rate",
        "0.2",
        "--seed",
        "5",
        "--columns",
        "device,browsing",
    ]));
    assert_eq!(rows(&truth).len() as u64, cell["hidden_cells"].as_u64().unwrap());
    let rows_hidden = cell["hidden_cells"].clone();

    // By default every column but the id and the free text is hidden.
    ok(&recimpute(&["mask", s(&ads), s(&masked), "--truth", s(&truth), "--rate", "0.2"]));
    let hidden: std::collections::BTreeSet<String> = rows(&truth).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(hidden.into_iter().collect::<Vec<_>>(), ["age", "browsing", "clicked", "device"]);

    // `--score-cells` scores a sample of the hidden cells and says how many; the hidden count
    // stays the whole mask's.
    let sampled = dir.path().join("sampled");
    ok(&recimpute(&[
        "quality",
        s(&ads),
        "--imputers",
        "mode",
        "--rates",
        "0.2",
        "--seeds",
        "5",
        "--columns",
        "device,browsing",
        "--score-cells",
        "3",
        "--out",
        s(&sampled),
    ]));
    let cell: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sampled.join("cells/ads.csv__mode__mcar__r0200__s5.json")).unwrap())
            .unwrap();
    assert_eq!(cell["scored_cells"].as_u64(), Some(3), "{cell}");
    assert_eq!(cell["hidden_cells"], rows_hidden, "{cell}");
    let counted: u64 =
        cell["report"]["columns"].as_array().unwrap().iter().map(|c| c["metrics"]["n_cells"].as_u64().unwrap()).sum();
    assert_eq!(counted, 3, "{cell}");
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ads = write_ads(dir.path());
    let masked = dir.path().join("masked.csv");

    // An unknown method lists the registry's names.
    let out = recimpute(&["impute", s(&ads), s(&masked), "--method", "lmm"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("possible values: deletion, zero, mean, median, mode, knn, iterative, missforest, llm"),
        "{err}"
    );
    let help = ok(&recimpute(&["impute", "--help"]));
    assert!(help.contains("possible values: deletion"), "{help}");

    // A truth file naming a column the filled table lacks: the file and the row are named.
    let truth = dir.path().join("truth.csv");
    std::fs::write(&truth, "row,column,value\n0,age,30\n1,colour,red\n").unwrap();
    let err = failed(&recimpute(&["score", s(&truth), s(&ads)]));
    assert!(err.contains("truth.csv") && err.contains("data row 2") && err.contains("no column 'colour'"), "{err}");
    // A value that does not fit its column.
    std::fs::write(&truth, "row,column,value\n0,age,thirty\n").unwrap();
    let err = failed(&recimpute(&["score", s(&truth), s(&ads)]));
    assert!(err.contains("value 'thirty' does not fit column 'age' (numeric)"), "{err}");
    // A row past the filled table's end.
    std::fs::write(&truth, "row,column,value\n5000,age,30\n").unwrap();
    let err = failed(&recimpute(&["score", s(&truth), s(&ads)]));
    assert!(err.contains("data row 5000") && err.contains("1000 rows"), "{err}");
    // Not a truth file at all.
    let err = failed(&recimpute(&["score", s(&ads), s(&ads)]));
    assert!(err.contains("not a ground-truth file"), "{err}");

    // Masking an id column, or an unknown one, or into the truth file itself.
    let t2 = dir.path().join("t2.csv");
    let err = failed(&recimpute(&["mask", s(&ads), s(&masked), "--truth", s(&t2), "--columns", "user_id"]));
    assert!(err.contains("'user_id' is an id"), "{err}");
    let err = failed(&recimpute(&["mask", s(&ads), s(&masked), "--truth", s(&t2), "--columns", "colour"]));
    assert!(err.contains("colour"), "{err}");
    let err = failed(&recimpute(&["mask", s(&ads), s(&masked), "--truth", s(&masked)]));
    assert!(err.contains("also the output"), "{err}");
    let err = failed(&recimpute(&["mask", s(&ads), s(&masked), "--truth", s(&t2), "--rate", "1.5"]));
    assert!(err.contains("rate must be in (0, 1)"), "{err}");

    // Two files of one name would share cell files.
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let twin = write_ads(&dir.path().join("b"));
    let err =
        failed(&recimpute(&["quality", s(&ads), s(&twin), "--imputers", "mean", "--out", s(&dir.path().join("q"))]));
    assert!(err.contains("two tables are both called 'ads.csv'"), "{err}");
}

/// `experiment --table`: the DLRM grid on your own file, its target never hidden, rows
/// without a target left out and counted.
#[cfg(feature = "dlrm")]
#[test]
fn experiment_on_your_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let ads = write_ads(dir.path());
    // Ten rows lose their target.
    let text = std::fs::read_to_string(&ads).unwrap();
    let unlabelled: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if (1..=10).contains(&i) {
                let mut cells: Vec<&str> = l.split(',').collect();
                cells[4] = "";
                cells.join(",")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&ads, unlabelled.join("\n") + "\n").unwrap();
    let out = dir.path().join("exp");
    let said = ok(&recimpute(&[
        "experiment",
        "--table",
        s(&ads),
        "--target",
        "clicked",
        "--group",
        "user_id",
        "--imputers",
        "deletion,mean,knn",
        "--rates",
        "0.2",
        "--seeds",
        "0",
        "--epochs",
        "3",
        "--out",
        s(&out),
    ]));
    assert!(said.contains("3 cells"), "{said}");
    let cell: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("cells/table__knn__mcar-0.200__seed0.json")).unwrap()).unwrap();
    assert_eq!(cell["unlabelled_rows"], 10);
    assert_eq!(cell["train_rows"].as_u64().unwrap() + cell["test_rows"].as_u64().unwrap(), 990);
    assert_eq!(cell["downstream"]["task"], "binary");
    let hidden: Vec<&str> =
        cell["imputation"]["columns"].as_array().unwrap().iter().map(|c| c["column"].as_str().unwrap()).collect();
    assert_eq!(hidden, ["age", "device", "browsing"], "never the target, the group or free text");
    // The planted signal is learnt: AUC well above chance.
    let auc = cell["downstream"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.65, "AUC {auc}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["table"]["target"], "clicked");
    assert!(std::fs::read_to_string(out.join("report.md")).unwrap().contains("table"));

    // A target the table lacks is named.
    let err = failed(&recimpute(&[
        "experiment",
        "--table",
        s(&ads),
        "--target",
        "click",
        "--out",
        s(&dir.path().join("exp2")),
    ]));
    assert!(err.contains("click") && err.contains("ads.csv"), "{err}");
}

/// Interactions with user and item tables whose click signal lives only in the attributes: a
/// user clicks an item of their segment's category far more often. Users `u0..u199` (age
/// follows the segment), items `i0..i29`, 3,000 interactions; deterministic.
#[cfg(feature = "dlrm")]
fn write_users_items(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    const SEGMENTS: [&str; 3] = ["sport", "music", "books"];
    let mut users = String::from("user_id,age,segment\n");
    let mut segment_of = Vec::new();
    for u in 0..200 {
        let seg = (next() * 3.0) as usize % 3;
        segment_of.push(seg);
        let age = (20.0 + 15.0 * seg as f64 + 8.0 * next()).round();
        users.push_str(&format!("u{u},{age},{}\n", SEGMENTS[seg]));
    }
    let mut items = String::from("item,category,price\n");
    let mut category_of = Vec::new();
    for i in 0..30 {
        let cat = i % 3;
        category_of.push(cat);
        items.push_str(&format!("i{i},{},{}\n", SEGMENTS[cat], 5 + 10 * cat + i % 4));
    }
    let mut clicks = String::from("user_id,item_id,clicked\n");
    for _ in 0..3000 {
        let u = (next() * 200.0) as usize % 200;
        let i = (next() * 30.0) as usize % 30;
        let p = if segment_of[u] == category_of[i] { 0.75 } else { 0.1 };
        clicks.push_str(&format!("u{u},i{i},{}\n", u8::from(next() < p)));
    }
    let paths = (dir.join("clicks.csv"), dir.join("users.csv"), dir.join("items.csv"));
    std::fs::write(&paths.0, clicks).unwrap();
    std::fs::write(&paths.1, users).unwrap();
    std::fs::write(&paths.2, items).unwrap();
    paths
}

/// `experiment --attributes`: user and item tables masked and filled per table, joined onto
/// the interactions, on a cold-start split where only the attributes can tell unseen users
/// apart.
#[cfg(feature = "dlrm")]
#[test]
fn experiment_with_attribute_tables_on_a_cold_start_split() {
    let dir = tempfile::tempdir().unwrap();
    let (clicks, users, items) = write_users_items(dir.path());
    let users_arg = format!("{}:user_id", s(&users));
    let items_arg = format!("{}:item=item_id", s(&items));
    let run = |out: &Path, joins: &[&str], imputers: &str, rate: &str| {
        let mut args = vec!["experiment", "--table", s(&clicks), "--target", "clicked", "--group", "user_id"];
        for j in joins {
            args.extend(["--attributes", j]);
        }
        args.extend(["--imputers", imputers, "--rates", rate, "--seeds", "0", "--epochs", "4", "--out", s(out)]);
        ok(&recimpute(&args))
    };
    let out = dir.path().join("joined");
    let said = run(&out, &[&users_arg, &items_arg], "deletion,mode,knn", "0.2");
    assert!(said.contains("3 cells"), "{said}");
    let cell = |name: &str| -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(out.join(format!("cells/table__{name}__mcar-0.200__seed0.json"))).unwrap(),
        )
        .unwrap()
    };
    let knn = cell("knn");
    let mut hidden: Vec<&str> =
        knn["imputation"]["columns"].as_array().unwrap().iter().map(|c| c["column"].as_str().unwrap()).collect();
    hidden.sort_unstable();
    assert_eq!(hidden, ["age", "category", "price", "segment"], "attributes only, never a key");
    // 20% of the 400 user cells and 60 item cells, give or take the draw.
    let masked = knn["masked_cells"].as_u64().unwrap();
    assert!((60..=130).contains(&masked), "masked {masked}");
    assert_eq!(knn["train_rows"].as_u64().unwrap() + knn["test_rows"].as_u64().unwrap(), 3000);
    // KNN recovers a user's segment from the age that follows it.
    let segment = knn["imputation"]["columns"].as_array().unwrap().iter().find(|c| c["column"] == "segment").unwrap();
    assert!(segment["metrics"]["accuracy"].as_f64().unwrap() > 0.8, "{segment}");
    // Deletion drops the training rows whose user or item lost a cell.
    let deletion = cell("deletion");
    assert!(deletion["train_rows"].as_u64().unwrap() < knn["train_rows"].as_u64().unwrap(), "{deletion}");
    assert_eq!(deletion["test_rows"], knn["test_rows"]);
    // The test users are unseen: the joined attributes carry the clicks, and without them
    // the recommender cannot tell the users apart.
    let auc = |c: &serde_json::Value| c["downstream"]["roc_auc"].as_f64().unwrap();
    assert!(auc(&knn) > 0.7, "AUC with the attributes {}", auc(&knn));
    let bare = dir.path().join("bare");
    // (Only keys and the target: nothing to hide.)
    run(&bare, &[], "mode", "0");
    let without: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bare.join("cells/table__mode__mcar-0.000__seed0.json")).unwrap())
            .unwrap();
    assert!(auc(&without) < 0.62, "AUC without the attributes {}", auc(&without));
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["table"]["attributes"][1]["on"], "item_id");

    // A key the attribute table lacks names the file, the row and the key.
    let text = std::fs::read_to_string(&clicks).unwrap().replacen("\nu", "\nu999", 1);
    let stray = dir.path().join("stray.csv");
    std::fs::write(&stray, text).unwrap();
    let x = dir.path().join("x");
    let refused = |table: &Path, extra: &[&str]| {
        let mut args = vec!["experiment", "--table", s(table), "--target", "clicked", "--out", s(&x)];
        args.extend(extra);
        failed(&recimpute(&args))
    };
    let err = refused(&stray, &["--attributes", &users_arg, "--imputers", "mean"]);
    assert!(err.contains("stray.csv: row 1: 'user_id' = \"u999") && err.contains("is not in users.csv"), "{err}");
    let err = refused(&clicks, &["--attributes", s(&users)]);
    assert!(err.contains("expected FILE:KEY"), "{err}");
    let err = refused(&clicks, &["--attributes", &users_arg, "--kind", "colour=categorical"]);
    assert!(err.contains("--kind colour: no column 'colour' in") && err.contains("users.csv"), "{err}");
}

#[test]
fn semicolons_and_missing_value_texts() {
    let dir = tempfile::tempdir().unwrap();
    // A semicolon file whose country `NA` (Namibia) is a value, not a gap.
    let input = dir.path().join("people.csv");
    let mut text = String::from("country;age;device\n");
    for i in 0..40 {
        let country = ["NA", "FR", "DE"][i % 3];
        let age = if i % 10 == 3 { String::new() } else { (20 + i).to_string() };
        text.push_str(&format!("{country};{age};{}\n", if i % 2 == 0 { "Mobile" } else { "Desktop" }));
    }
    std::fs::write(&input, &text).unwrap();
    let said = ok(&recimpute(&["inspect", s(&input), "--na-values", ""]));
    assert!(said.contains("country") && said.contains("age") && said.contains("device"), "sniffed: {said}");
    assert!(said.contains("(delimiter ';', sniffed)"), "{said}");
    let filled = dir.path().join("filled.csv");
    ok(&recimpute(&["impute", s(&input), s(&filled), "--method", "mode", "--na-values", ""]));
    let out = std::fs::read_to_string(&filled).unwrap();
    assert!(out.starts_with("country;age;device\n"), "the input's delimiter is kept: {out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("NA;")).count(), 14, "NA stays a country");
    assert!(!out.contains(";;"), "every age is filled");
    // With the default list, NA is a gap and gets filled with another country.
    ok(&recimpute(&["impute", s(&input), s(&filled), "--method", "mode"]));
    assert_eq!(std::fs::read_to_string(&filled).unwrap().lines().filter(|l| l.starts_with("NA;")).count(), 0);
    // A delimiter given wins; a bad one is named.
    let said = ok(&recimpute(&["inspect", s(&input), "--delimiter", ","]));
    assert!(said.contains("1 columns"), "{said}");
    let err = failed(&recimpute(&["inspect", s(&input), "--delimiter", "→"]));
    assert!(err.contains("--delimiter") && err.contains("only ASCII"), "{err}");
    // A headerless file: columns c0, c1, ...; the output has no header either.
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, text.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let said = ok(&recimpute(&["inspect", s(&bare), "--no-header", "--na-values", ""]));
    assert!(said.contains("40 rows, 3 columns") && said.contains("c1"), "{said}");
    ok(&recimpute(&["impute", s(&bare), s(&filled), "--method", "mode", "--no-header", "--na-values", ""]));
    let out = std::fs::read_to_string(&filled).unwrap();
    assert_eq!(out.lines().count(), 40);
    assert!(out.starts_with("NA;20;Mobile\n"), "{out}");
}

/// MovieLens 1M's shapes: `users.dat` (`UserID::Gender::Age::Occupation::Zip-code`, no header,
/// the occupation following the age code) and a Latin-1 `movies.dat` whose titles hold commas
/// and accents, genres joined by `|`. Some cells are empty (gaps).
fn write_ml1m_like(dir: &Path) -> (PathBuf, PathBuf) {
    let mut users = String::new();
    for i in 1..=300u32 {
        let age = [1, 18, 25, 35, 45, 50, 56][(i as usize * 7) % 7 * (i as usize % 3 + 1) % 7];
        let occupation = if i % 11 == 0 { String::new() } else { (age / 3 % 21).to_string() };
        let gender = if i % 13 == 0 {
            ""
        } else if i % 2 == 0 {
            "M"
        } else {
            "F"
        };
        users.push_str(&format!("{i}::{gender}::{age}::{occupation}::{:05}-{:04}\n", 10_000 + i * 37, i));
    }
    let users_path = dir.join("users.dat");
    std::fs::write(&users_path, users).unwrap();
    let mut movies: Vec<u8> = Vec::new();
    let titles: [&[u8]; 4] = [
        b"Toy Story (1995)",
        b"Cit\xE9 des enfants perdus, La (1995)",
        b"American President, The (1995)",
        b"M\xFCnchhausen (1943)",
    ];
    for i in 0..40usize {
        let genres =
            if i % 9 == 4 { "" } else { ["Animation|Comedy", "Drama", "Adventure|Sci-Fi", "Comedy|Drama"][i % 4] };
        movies.extend_from_slice(format!("{}::", i + 1).as_bytes());
        movies.extend_from_slice(titles[i % 4]);
        movies.extend_from_slice(format!("::{genres}\n").as_bytes());
    }
    let movies_path = dir.join("movies.dat");
    std::fs::write(&movies_path, movies).unwrap();
    (users_path, movies_path)
}

#[test]
fn movielens_1m_dat_files_with_double_colons_and_latin1() {
    let dir = tempfile::tempdir().unwrap();
    let (users, movies) = write_ml1m_like(dir.path());
    let said = ok(&recimpute(&["inspect", s(&users), "--no-header"]));
    assert!(said.contains("300 rows, 5 columns (delimiter '::', sniffed)"), "{said}");
    // Filled with KNN, written back with `::`; observed cells kept as read.
    let filled = dir.path().join("users-filled.dat");
    ok(&recimpute(&["impute", s(&users), s(&filled), "--no-header", "--method", "knn"]));
    let (was, now) = (std::fs::read_to_string(&users).unwrap(), std::fs::read_to_string(&filled).unwrap());
    assert_eq!(now.lines().count(), 300);
    for (a, b) in was.lines().zip(now.lines()) {
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split("::").collect(), b.split("::").collect());
        assert_eq!(b.len(), 5, "{b:?}");
        for (x, y) in a.iter().zip(&b) {
            assert!(x == y || (x.is_empty() && !y.is_empty()), "{a:?} -> {b:?}");
        }
    }
    // The quality grid on the same file.
    let out = dir.path().join("q");
    ok(&recimpute(&[
        "quality",
        s(&users),
        "--no-header",
        "--imputers",
        "mode,knn",
        "--rates",
        "0.1",
        "--seeds",
        "0",
        "--out",
        s(&out),
    ]));
    assert!(std::fs::read_to_string(out.join("quality.md")).unwrap().contains("knn"));
    // Latin-1 is sniffed and said; the output is UTF-8 with every title intact.
    let o = recimpute(&["inspect", s(&movies), "--no-header"]);
    let said = ok(&o);
    assert!(said.contains("40 rows, 3 columns (delimiter '::', sniffed, Latin-1 (sniffed))"), "{said}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("not valid UTF-8: read as Latin-1"));
    let filled = dir.path().join("movies-filled.dat");
    ok(&recimpute(&["impute", s(&movies), s(&filled), "--no-header", "--method", "mode"]));
    let out = std::fs::read_to_string(&filled).unwrap();
    assert_eq!(out.lines().filter(|l| l.contains("Cité des enfants perdus, La (1995)")).count(), 10);
    assert_eq!(out.lines().filter(|l| l.contains("Münchhausen (1943)")).count(), 10);
    assert!(out.lines().all(|l| !l.ends_with("::")), "every genre set is filled: {out}");
    // Told it is UTF-8, the file is refused with the line and the way out.
    let err = failed(&recimpute(&["inspect", s(&movies), "--no-header", "--encoding", "utf-8"]));
    assert!(err.contains("movies.dat") && err.contains("line 2") && err.contains("--encoding latin-1"), "{err}");
}

#[test]
fn observed_cells_come_back_as_they_were_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.csv");
    // Decimals written with a trailing zero, nanosecond timestamps beyond 2^53, a quoted city.
    let mut text = String::from("user_id,price,ts,city\n");
    for i in 0..30u64 {
        let price = if i % 7 == 2 { String::new() } else { format!("{}.0", 10 + i % 5) };
        let city = if i % 2 == 0 { "\"Paris, FR\"" } else { "Lyon" };
        text.push_str(&format!("u{i},{price},{},{city}\n", 1_700_000_000_123_456_789u64 + i));
    }
    std::fs::write(&input, &text).unwrap();
    let filled = dir.path().join("filled.csv");
    for method in ["mean", "knn", "deletion"] {
        ok(&recimpute(&["impute", s(&input), s(&filled), "--method", method]));
        let out = std::fs::read_to_string(&filled).unwrap();
        let kept: Vec<&str> = text.lines().filter(|l| method != "deletion" || !l.contains(",,")).collect();
        assert_eq!(out.lines().count(), kept.len(), "{method}");
        for (was, now) in kept.iter().zip(out.lines()) {
            if was.contains(",,") {
                // Only the empty price changed.
                let (a, b) = (was.split_once(",,").unwrap(), now.split(',').collect::<Vec<_>>());
                assert!(now.starts_with(&format!("{},", a.0)) && now.ends_with(a.1), "{method}: {was} -> {now}");
                assert!(!b[1].is_empty(), "{method}: {now}");
            } else {
                assert_eq!(*was, now, "{method}: an observed cell was rewritten");
            }
        }
    }
    // The masked table keeps its observed cells' text too.
    let (masked, truth) = (dir.path().join("masked.csv"), dir.path().join("truth.csv"));
    ok(&recimpute(&["mask", s(&input), s(&masked), "--truth", s(&truth), "--rate", "0.2", "--columns", "price"]));
    let out = std::fs::read_to_string(&masked).unwrap();
    for (was, now) in text.lines().zip(out.lines()) {
        assert!(was == now || now.split(',').nth(1) == Some(""), "{was} -> {now}");
    }
}

#[test]
fn fills_are_valid_values_unless_asked_raw() {
    let dir = tempfile::tempdir().unwrap();
    let ads = write_ads(dir.path());
    let (masked, truth, filled) = (dir.path().join("m.csv"), dir.path().join("t.csv"), dir.path().join("f.csv"));
    ok(&recimpute(&["mask", s(&ads), s(&masked), "--truth", s(&truth), "--rate", "0.2", "--columns", "age,clicked"]));
    let hidden = rows(&truth);
    let filled_values = |extra: &[&str]| {
        let mut args = vec!["impute", s(&masked), s(&filled), "--method", "mean"];
        args.extend(extra);
        let said = ok(&recimpute(&args));
        let out = rows(&filled);
        let values: Vec<String> = hidden
            .iter()
            .map(|h| out[h[0].parse::<usize>().unwrap()][if h[1] == "age" { 1 } else { 4 }].clone())
            .collect();
        (said, values)
    };
    // The mean of a 0/1 flag and of whole ages, made whole: every clicked fill is 0 or 1.
    let (said, values) = filled_values(&[]);
    assert!(said.contains("fills made valid values"), "{said}");
    assert!(values.iter().all(|v| v.parse::<f64>().unwrap().fract() == 0.0), "{values:?}");
    let clicked: Vec<&String> = hidden.iter().zip(&values).filter(|(h, _)| h[1] == "clicked").map(|(_, v)| v).collect();
    assert!(!clicked.is_empty() && clicked.iter().all(|v| *v == "0" || *v == "1"), "{clicked:?}");
    // Raw: the means themselves.
    let (said, values) = filled_values(&["--raw-fills"]);
    assert!(!said.contains("made valid"), "{said}");
    assert!(values.iter().any(|v| v.parse::<f64>().unwrap().fract() != 0.0), "{values:?}");
}

#[test]
fn fit_on_takes_its_kinds_from_the_training_table() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    std::fs::write(&train, "age,country\n31,Tunisia\n45,France\n28,Tunisia\n52,France\n").unwrap();
    // Country is empty in the file to fill: alone it would be inferred numeric.
    let input = dir.path().join("input.csv");
    std::fs::write(&input, "age,country\n33,\n,\n").unwrap();
    let filled = dir.path().join("filled.csv");
    ok(&recimpute(&["impute", s(&input), s(&filled), "--method", "mode", "--fit-on", s(&train)]));
    assert_eq!(std::fs::read_to_string(&filled).unwrap(), "age,country\n33,France\n28,France\n");
    // A stray string in a column the training table has numeric is named, file and column.
    std::fs::write(&input, "age,country\nunknown,France\n").unwrap();
    let err = failed(&recimpute(&["impute", s(&input), s(&filled), "--fit-on", s(&train)]));
    assert!(err.contains("input.csv") && err.contains("'age'") && err.contains("unknown"), "{err}");
}

#[test]
fn a_non_finite_number_is_named_not_a_reason_to_relabel_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("prices.csv");
    std::fs::write(&input, "item,price\na,1.5\nb,inf\nc,\n").unwrap();
    let err = failed(&recimpute(&["impute", s(&input), s(&dir.path().join("out.csv")), "--method", "mean"]));
    assert!(err.contains("line 3") && err.contains("'price'") && err.contains("a finite number"), "{err}");
    // Read as a missing cell when asked.
    let said = ok(&recimpute(&["inspect", s(&input), "--na-values", ",inf"]));
    assert!(said.contains("price") && said.contains("numeric"), "{said}");
}

/// Masks the fixture (10% of age, device, browsing and clicked) into `masked.csv`.
fn masked_ads(dir: &Path) -> PathBuf {
    let ads = write_ads(dir);
    let (masked, truth) = (dir.join("masked.csv"), dir.join("truth.csv"));
    let columns = "age,device,browsing,clicked";
    ok(&recimpute(&[
        "mask",
        s(&ads),
        s(&masked),
        "--truth",
        s(&truth),
        "--rate",
        "0.1",
        "--seed",
        "5",
        "--columns",
        columns,
    ]));
    masked
}

#[test]
fn a_saved_imputer_fills_as_the_one_fitted_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let masked = masked_ads(dir.path());
    let d = |name: &str| dir.path().join(name);
    for method in ["knn", "iterative", "missforest", "mean", "deletion"] {
        let model = d(&format!("{method}.json"));
        let said = ok(&recimpute(&["fit", s(&masked), "--out", s(&model), "--method", method]));
        assert!(said.contains("wrote") && said.contains("rows"), "{said}");
        // Fitted on the file and applied to it, in one command and in two: the same bytes.
        ok(&recimpute(&["impute", s(&masked), s(&d("direct.csv")), "--method", method]));
        let said = ok(&recimpute(&["impute", s(&masked), s(&d("saved.csv")), "--imputer", s(&model)]));
        assert!(said.contains(&format!("from {}", s(&model))), "{said}");
        let (direct, saved) = (std::fs::read(d("direct.csv")).unwrap(), std::fs::read(d("saved.csv")).unwrap());
        assert_eq!(direct, saved, "{method}: the saved imputer filled differently");
        assert_ne!(saved, std::fs::read(&masked).unwrap(), "{method} changed nothing");
    }
    // `impute --save` writes the same kind of file.
    let model = d("via-save.json");
    ok(&recimpute(&["impute", s(&masked), s(&d("x.csv")), "--method", "knn", "--save", s(&model)]));
    ok(&recimpute(&["impute", s(&masked), s(&d("y.csv")), "--imputer", s(&model)]));
    assert_eq!(std::fs::read(d("x.csv")).unwrap(), std::fs::read(d("y.csv")).unwrap());
}

#[test]
fn streaming_a_parquet_file_through_a_saved_imputer_matches_the_whole_table() {
    let dir = tempfile::tempdir().unwrap();
    let masked = masked_ads(dir.path());
    let d = |name: &str| dir.path().join(name);
    let parquet = d("masked.parquet");
    ok(&recimpute(&["convert", s(&masked), s(&parquet)]));
    for method in ["knn", "iterative", "missforest", "deletion"] {
        let model = d(&format!("{method}.json"));
        ok(&recimpute(&["fit", s(&masked), "--out", s(&model), "--method", method]));
        ok(&recimpute(&["impute", s(&parquet), s(&d("whole.parquet")), "--imputer", s(&model)]));
        let said = ok(&recimpute(&[
            "impute",
            s(&parquet),
            s(&d("streamed.parquet")),
            "--imputer",
            s(&model),
            "--batch-rows",
            "64",
        ]));
        assert!(said.contains("in 16 batches of at most 64"), "{method}: {said}");
        // Compare as CSV text: the same cells, row for row.
        ok(&recimpute(&["convert", s(&d("whole.parquet")), s(&d("whole.csv"))]));
        ok(&recimpute(&["convert", s(&d("streamed.parquet")), s(&d("streamed.csv"))]));
        let (whole, streamed) =
            (std::fs::read_to_string(d("whole.csv")).unwrap(), std::fs::read_to_string(d("streamed.csv")).unwrap());
        assert_eq!(whole, streamed, "{method}: batch by batch differs from the whole table");
        let expected_rows = if method == "deletion" {
            rows(&masked).iter().filter(|r| r.iter().all(|c| !c.is_empty())).count()
        } else {
            1000
        };
        assert_eq!(whole.lines().count() - 1, expected_rows, "{method}");
        // CSV to CSV, streamed: the very bytes of the whole-table fill (observed cells as read).
        ok(&recimpute(&["impute", s(&masked), s(&d("whole-text.csv")), "--imputer", s(&model)]));
        let said = ok(&recimpute(&[
            "impute",
            s(&masked),
            s(&d("streamed-text.csv")),
            "--imputer",
            s(&model),
            "--batch-rows",
            "64",
        ]));
        assert!(said.contains("in 16 batches of at most 64"), "{method}: {said}");
        let whole_text = std::fs::read(d("whole-text.csv")).unwrap();
        assert!(whole_text == std::fs::read(d("streamed-text.csv")).unwrap(), "{method}: streamed CSV differs");
        assert_eq!(whole_text.iter().filter(|&&b| b == b'\n').count() - 1, expected_rows, "{method}");
    }
}

/// A Parquet file with integer columns as other tools write it: `Int64` hashed ids and
/// nanosecond timestamps beyond 2^53 (no two equal as f64 neighbours), an `Int32` age with gaps
/// following the device, a device label with gaps.
fn integer_parquet(path: &Path) -> Vec<i64> {
    use recimpute::table::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;
    let n = 300;
    let ts: Vec<i64> = (0..n).map(|i| 1_700_000_000_123_456_789 + i).collect();
    let age: Vec<Option<i32>> = (0..n).map(|i| (i % 9 != 4).then_some(if i % 2 == 0 { 22 } else { 61 })).collect();
    let device: Vec<Option<&str>> =
        (0..n).map(|i| (i % 11 != 3).then_some(if i % 2 == 0 { "Mobile" } else { "Desktop" })).collect();
    let batch = recimpute::table::arrow::record_batch::RecordBatch::try_from_iter([
        ("ts", Arc::new(Int64Array::from(ts.clone())) as ArrayRef),
        ("age", Arc::new(Int32Array::from(age)) as ArrayRef),
        ("device", Arc::new(StringArray::from(device)) as ArrayRef),
    ])
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    ts
}

fn stored_columns(path: &Path) -> recimpute::table::arrow::record_batch::RecordBatch {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    recimpute::table::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
fn integer_parquet_columns_keep_their_type_and_every_digit() {
    use recimpute::table::arrow::array::{Array, Int32Array, Int64Array};
    use recimpute::table::arrow::datatypes::DataType;
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let input = d("events.parquet");
    let ts = integer_parquet(&input);
    let model = d("knn.json");
    // `ts` is a number to the imputer, but no gap is in it; age and device get filled.
    ok(&recimpute(&["fit", s(&input), "--out", s(&model), "--method", "knn"]));
    for (out, extra) in [("whole.parquet", vec![]), ("streamed.parquet", vec!["--batch-rows", "64"])] {
        let path = d(out);
        let mut args = vec!["impute", s(&input), s(&path), "--imputer", s(&model)];
        args.extend(extra);
        ok(&recimpute(&args));
        let b = stored_columns(&d(out));
        assert_eq!(b.schema().field(0).data_type(), &DataType::Int64, "{out}");
        assert_eq!(b.schema().field(1).data_type(), &DataType::Int32, "{out}");
        let got = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(got.values().to_vec(), ts, "{out}: every timestamp keeps its digits");
        let age = b.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(age.null_count(), 0, "{out}");
        // Filled ages are whole numbers of the observed range; observed ones are as stored.
        for i in 0..300 {
            let was = if i % 2 == 0 { 22 } else { 61 };
            assert!(if i % 9 == 4 { (22..=61).contains(&age.value(i)) } else { age.value(i) == was }, "{out}: row {i}");
        }
    }
    assert_eq!(stored_columns(&d("whole.parquet")), stored_columns(&d("streamed.parquet")));
    // Fitting in place writes the same file as the saved imputer.
    ok(&recimpute(&["impute", s(&input), s(&d("direct.parquet")), "--method", "knn"]));
    assert_eq!(stored_columns(&d("direct.parquet")), stored_columns(&d("whole.parquet")));
    // Raw fills are fractions: the age column is written as f64, and the user is told.
    let out = recimpute(&["impute", s(&input), s(&d("raw.parquet")), "--method", "mean", "--raw-fills"]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("column(s) age written in recimpute's own type"));
    let b = stored_columns(&d("raw.parquet"));
    assert_eq!(
        (b.schema().field(0).data_type(), b.schema().field(1).data_type()),
        (&DataType::Int64, &DataType::Float64)
    );
}

#[test]
fn fit_on_a_sample_and_the_errors_of_saved_imputers() {
    let dir = tempfile::tempdir().unwrap();
    let masked = masked_ads(dir.path());
    let d = |name: &str| dir.path().join(name);
    let model = d("knn.json");
    let said = ok(&recimpute(&["fit", s(&masked), "--out", s(&model), "--fit-sample", "100", "--seed", "1"]));
    assert!(said.contains("fitted on 100 rows"), "{said}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(saved["imputer"]["method"], "knn");
    assert_eq!(saved["imputer"]["fitted"]["donors"]["rows"], 100, "KNN keeps only the sample as donors");
    // Only the sampled rows are read, and they are the rows a whole read would sample: the
    // imputer is the one fitted on a file of exactly those rows, from CSV and from Parquet. (300
    // rows: the kinds come from the sample, and in 100 rows the free-text note, 100 distinct
    // values, would pass for labels, as the message says.)
    let small = d("small.json");
    let out = recimpute(&["fit", s(&masked), "--out", s(&small), "--fit-sample", "100", "--seed", "1"]);
    ok(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("kinds from the sample") && said.contains("note categorical"), "{said}");
    let sampled = d("sampled.json");
    ok(&recimpute(&["fit", s(&masked), "--out", s(&sampled), "--fit-sample", "300", "--seed", "1"]));
    let opts = recimpute::table::CsvOptions::default();
    let whole = recimpute::table::read_table(&masked, &opts).unwrap();
    let rows = recimpute::datasets::split::sample_rows(whole.num_rows(), 300, 1);
    recimpute::table::write_table(&whole.take_rows(&rows).unwrap(), d("sample.csv"), &opts).unwrap();
    ok(&recimpute(&["fit", s(&d("sample.csv")), "--out", s(&d("sample.json")), "--seed", "1"]));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert!(read(&d("sample.json")) == read(&sampled), "the streamed sample differs from the whole read's");
    let (parquet, pq) = (d("masked.parquet"), d("pq.json"));
    ok(&recimpute(&["convert", s(&masked), s(&parquet)]));
    ok(&recimpute(&["fit", s(&parquet), "--out", s(&pq), "--fit-sample", "300", "--seed", "1"]));
    assert!(read(&pq) == read(&sampled), "a Parquet input samples the same rows");
    let said = ok(&recimpute(&["impute", s(&masked), s(&d("out.csv")), "--imputer", s(&model)]));
    assert!(said.contains("1000 rows out"), "{said}");

    let err =
        failed(&recimpute(&["impute", s(&masked), s(&d("o.csv")), "--imputer", s(&model), "--method", "missforest"]));
    assert!(err.contains("holds a knn imputer") && err.contains("--method missforest"), "{err}");
    let err = failed(&recimpute(&["impute", s(&masked), s(&d("o.csv")), "--batch-rows", "10"]));
    assert!(err.contains("--batch-rows streams a table through a saved imputer"), "{err}");
    let err =
        failed(&recimpute(&["impute", s(&masked), s(&d("o.parquet")), "--imputer", s(&model), "--batch-rows", "10"]));
    assert!(err.contains("Parquet to Parquet or CSV to CSV") && err.contains("masked.csv"), "{err}");
    assert!(!d("o.parquet").exists());
    let err =
        failed(&recimpute(&["impute", s(&masked), s(&d("o.csv")), "--imputer", s(&model), "--fit-on", s(&masked)]));
    assert!(err.contains("already fitted"), "{err}");
    let err = failed(&recimpute(&["impute", s(&masked), s(&d("o.csv")), "--imputer", s(&d("nope.json"))]));
    assert!(err.contains("nope.json") && err.contains("no such file"), "{err}");
    // A table whose columns differ from the imputer's.
    let other = d("other.csv");
    std::fs::write(&other, "age,colour\n30,red\n,blue\n").unwrap();
    let err = failed(&recimpute(&["impute", s(&other), s(&d("o.csv")), "--imputer", s(&model)]));
    assert!(err.contains("colour") || err.contains("device"), "{err}");
    assert!(!d("o.csv").exists(), "nothing is written on failure");
}
