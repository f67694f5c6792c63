//! Bad input gives a clear error naming the file, never a panic.

use rec_datasets::adclick::load_adclick;
use rec_datasets::general::load_labeled;
use rec_datasets::movielens::{load_ml100k, load_ml1m, load_ml_latest, MovieLensOptions};
use rec_datasets::Error;

fn opts() -> MovieLensOptions {
    MovieLensOptions::default()
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_ml100k(dir.path(), &opts()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("u.genre"), "{e}");
    let e = load_ml1m(dir.path(), &opts()).unwrap_err().to_string();
    assert!(e.contains("users.dat"), "{e}");
    let e = load_ml_latest(dir.path(), &opts()).unwrap_err().to_string();
    assert!(e.contains("movies.csv"), "{e}");
    let e = load_adclick(dir.path().join("nope.csv")).unwrap_err().to_string();
    assert!(e.contains("nope.csv"), "{e}");
    let e = load_labeled(dir.path().join("t.parquet"), "y").unwrap_err().to_string();
    assert!(e.contains("t.parquet"), "{e}");
}

#[test]
fn wrong_separator_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("users.dat"), "1::F::1::10::48067\n2,M,56,16,70072\n").unwrap();
    let e = load_ml1m(d, &opts()).unwrap_err().to_string();
    assert!(e.contains("users.dat: line 2") && e.contains("separated by '::'"), "{e}");

    std::fs::write(d.join("u.genre"), "unknown|0\nAction|1\n").unwrap();
    std::fs::write(d.join("u.occupation"), "other\n").unwrap();
    std::fs::write(d.join("u.user"), "1|24|M|other|85711\n").unwrap();
    std::fs::write(d.join("u.item"), "1|T (1995)|||u|0|1\n").unwrap();
    std::fs::write(d.join("u.data"), "1,1,5,881250949\n").unwrap();
    let e = load_ml100k(d, &opts()).unwrap_err().to_string();
    assert!(e.contains("u.data: line 1") && e.contains("separated by 'tab'"), "{e}");

    std::fs::write(d.join("ad.csv"), "id;full_name;age;gender;device_type;ad_position;browsing_history;time_of_day;click\n1;User1;22;Male;Mobile;Top;News;Night;1\n").unwrap();
    let e = load_adclick(d.join("ad.csv")).unwrap_err();
    assert!(matches!(e, Error::MissingColumn { .. }), "{e}");
    assert!(e.to_string().contains("ad.csv") && e.to_string().contains("no column 'id'"), "{e}");
}

#[test]
fn bad_numbers_and_unknown_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("users.dat"), "1::F::1::99::48067\n").unwrap();
    let e = load_ml1m(d, &opts()).unwrap_err().to_string();
    assert!(e.contains("users.dat: line 1") && e.contains("occupation code"), "{e}");
    std::fs::write(d.join("users.dat"), "1::F::old::1::48067\n").unwrap();
    let e = load_ml1m(d, &opts()).unwrap_err().to_string();
    assert!(e.contains("users.dat: line 1") && e.contains("age: \"old\" is not a number"), "{e}");
}

#[test]
fn bad_encoding_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("movies.csv"),
        b"movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Mis\xe9rables (1995),Drama\n",
    )
    .unwrap();
    std::fs::write(d.join("ratings.csv"), "userId,movieId,rating,timestamp\n1,1,4,1\n").unwrap();
    let e = load_ml_latest(d, &opts()).unwrap_err().to_string();
    assert!(e.contains("movies.csv: line 3") && e.contains("invalid UTF-8"), "{e}");

    std::fs::write(d.join("t.csv"), b"a,y\n\xff\xfe,1\n").unwrap();
    let e = load_labeled(d.join("t.csv"), "y").unwrap_err().to_string();
    assert!(e.contains("t.csv: line 2") && e.contains("invalid UTF-8"), "{e}");
}

#[test]
fn absent_target_names_file_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "a,b,label\n1,x,0\n2,y,1\n").unwrap();
    let e = load_labeled(&path, "click").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("t.csv") && msg.contains("no column 'click'") && msg.contains("a, b, label"), "{msg}");
    let ok = load_labeled(&path, "label").unwrap();
    assert_eq!((ok.table.num_rows(), ok.target_index()), (2, 2));
}

#[test]
fn general_loader_reads_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let t = rec_datasets::synthetic::mixed(20, 1).unwrap();
    let path = dir.path().join("m.parquet");
    rec_table::write_table(&t, &path, &Default::default()).unwrap();
    let l = load_labeled(&path, "score").unwrap();
    assert_eq!(l.table, t);
    let e = load_labeled(&path, "rating").unwrap_err().to_string();
    assert!(e.contains("m.parquet") && e.contains("segment, age"), "{e}");
}

#[test]
fn adclick_bad_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ad.csv");
    std::fs::write(&path, "id,full_name,age,gender,device_type,ad_position,browsing_history,time_of_day,click\n1,User1,22,Male,Mobile,Top,News,Night,\n").unwrap();
    let e = load_adclick(&path).unwrap_err().to_string();
    assert!(e.contains("ad.csv: line 2") && e.contains("click"), "{e}");
}
