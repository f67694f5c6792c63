//! The three MovieLens formats on small fixtures written by the tests themselves.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use std::path::Path;

use rec_datasets::movielens::{
    load_ml100k, load_ml1m, load_ml_latest, rating_features, MovieLensOptions, UnknownGenre,
};
use rec_datasets::split::{ml100k_fold, Ml100kFold};
use rec_table::Value;

const GENRES: &str = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n\
Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\n\
Thriller|16\nWar|17\nWestern|18\n\n";

fn flags(on: &[usize]) -> String {
    (0..19).map(|g| if on.contains(&g) { "1" } else { "0" }).collect::<Vec<_>>().join("|")
}

/// A three-user, three-item ml-100k directory in the original encoding (ISO-8859-1).
pub fn write_ml100k(dir: &Path) {
    std::fs::write(dir.join("u.genre"), GENRES).unwrap();
    std::fs::write(dir.join("u.occupation"), "engineer\nother\nwriter\n").unwrap();
    std::fs::write(dir.join("u.user"), "1|24|M|engineer|85711\n2|53|F|other|T8H1N\n3|23|M|writer|02139\n").unwrap();
    let mut item = Vec::new();
    item.extend_from_slice(format!("1|Toy Story (1995)|01-Jan-1995||http://x|{}\n", flags(&[3, 4, 5])).as_bytes());
    item.extend_from_slice(b"2|Mis\xe9rables, Les (1995)|01-Jan-1995||http://y|");
    item.extend_from_slice(format!("{}\n", flags(&[8, 12])).as_bytes());
    item.extend_from_slice(format!("3|Good Morning|4-Feb-1971||http://z|{}\n", flags(&[0])).as_bytes());
    std::fs::write(dir.join("u.item"), item).unwrap();
    std::fs::write(
        dir.join("u.data"),
        "1\t1\t5\t881250949\n2\t2\t3\t881250950\n3\t3\t1\t881250951\n1\t2\t4\t881250952\n",
    )
    .unwrap();
    std::fs::write(dir.join("u1.base"), "1\t1\t5\t881250949\n1\t2\t4\t881250952\n3\t3\t1\t881250951\n").unwrap();
    std::fs::write(dir.join("u1.test"), "2\t2\t3\t881250950\n").unwrap();
}

#[test]
fn ml100k_fixture() {
    let dir = tempfile::tempdir().unwrap();
    write_ml100k(dir.path());
    let ml = load_ml100k(dir.path(), &MovieLensOptions::default()).unwrap();
    assert_eq!((ml.users.num_rows(), ml.items.num_rows(), ml.ratings.num_rows()), (3, 3, 4));
    assert_eq!(ml.users.strings("region").unwrap(), [Some("zip8"), Some("other"), Some("zip0")]);
    assert_eq!(ml.items.value(1, 1), Some(Value::Text("Misérables, Les".into())));
    assert_eq!(ml.items.value(1, 3), Some(Value::Set(vec!["Drama".into(), "Musical".into()])));
    // No year in the title: the release date's year; only the unknown flag: missing genres.
    assert_eq!(ml.items.value(2, 2), Some(Value::Number(1971.0)));
    assert_eq!(ml.items.value(2, 3), None);
    let labelled = load_ml100k(dir.path(), &MovieLensOptions { unknown_genre: UnknownGenre::Label }).unwrap();
    assert_eq!(labelled.items.value(2, 3), Some(Value::Set(vec!["unknown".into()])));
    let empty = load_ml100k(dir.path(), &MovieLensOptions { unknown_genre: UnknownGenre::EmptySet }).unwrap();
    assert_eq!(empty.items.value(2, 3), Some(Value::Set(vec![])));

    let model = ml.model_table().unwrap();
    assert_eq!(model.num_rows(), 4);
    // Row 3 of u.data: user 1 rated item 2.
    assert_eq!(model.value(3, 5), Some(Value::Category("M".into())));
    assert_eq!(model.value(3, 8), Some(Value::Text("Misérables, Les".into())));

    let split = ml100k_fold(dir.path(), Ml100kFold::U1, &ml.ratings).unwrap();
    assert_eq!((split.train.as_slice(), split.test.as_slice()), (&[0, 2, 3][..], &[1][..]));

    // The recommender's features: the split's ratings, joined, without time stamp and title.
    let features = rating_features(&ml.ratings, &split.train, &ml.users, &ml.items).unwrap();
    assert_eq!(features.num_rows(), 3);
    let names = features.schema().names();
    assert!(!names.contains(&"timestamp") && !names.contains(&"title"), "{names:?}");
    assert!(names.contains(&"rating") && names.contains(&"genres") && names.contains(&"gender"), "{names:?}");
    // Its third row is u.data's row 3: user 1 (M) rated item 2 (Drama, Musical) 4.
    let at = |c: &str| features.value(2, features.schema().index_of(c).unwrap());
    assert_eq!(at("gender"), Some(Value::Category("M".into())));
    assert_eq!(at("rating"), Some(Value::Number(4.0)));
    assert_eq!(at("genres"), Some(Value::Set(vec!["Drama".into(), "Musical".into()])));
}

#[test]
fn ml100k_fixture_reencoded_as_utf8_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    write_ml100k(dir.path());
    let latin1 = std::fs::read(dir.path().join("u.item")).unwrap();
    let utf8: String = latin1.iter().map(|&b| b as char).collect();
    std::fs::write(dir.path().join("u.item"), utf8).unwrap();
    let ml = load_ml100k(dir.path(), &MovieLensOptions::default()).unwrap();
    assert_eq!(ml.items.value(1, 1), Some(Value::Text("Misérables, Les".into())));
}

#[test]
fn ml1m_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("users.dat"), "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117-1234\n").unwrap();
    let mut movies = b"1::Toy Story (1995)::Animation|Children's|Comedy\r\n".to_vec();
    movies.extend_from_slice(
        b"2::C\xe9r\xe9monie, La (1995)::Drama\r\n3::City of Lost Children, The (1995)::Adventure|Sci-Fi\r\n",
    );
    std::fs::write(d.join("movies.dat"), movies).unwrap();
    std::fs::write(d.join("ratings.dat"), "1::1::5::978300760\n2::3::3::978302109\n3::2::4::978301968\n").unwrap();
    let ml = load_ml1m(d, &MovieLensOptions::default()).unwrap();
    assert_eq!(ml.users.value(0, 1), Some(Value::Number(1.0)));
    assert_eq!(ml.users.value(0, 2), Some(Value::Category("F".into())));
    assert_eq!(ml.users.value(0, 3), Some(Value::Category("K-12 student".into())));
    assert_eq!(ml.users.value(1, 3), Some(Value::Category("self-employed".into())));
    assert_eq!(ml.users.strings("region").unwrap(), [Some("zip4"), Some("zip7"), Some("zip5")]);
    assert_eq!(ml.items.value(1, 1), Some(Value::Text("Cérémonie, La".into())));
    assert_eq!(ml.items.value(2, 1), Some(Value::Text("City of Lost Children, The".into())));
    assert_eq!(ml.items.value(2, 3), Some(Value::Set(vec!["Adventure".into(), "Sci-Fi".into()])));
    let model = ml.model_table().unwrap();
    assert_eq!(model.num_rows(), 3);
    assert_eq!(model.value(2, 8), Some(Value::Text("Cérémonie, La".into())));
    assert_eq!(model.value(2, 9), Some(Value::Number(1995.0)));
}

#[test]
fn ml_latest_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("movies.csv"),
        "movieId,title,genres\r\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n\
         11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n\
         12,\"\"\"Great Performances\"\" Cats (1998)\",Musical\r\n\
         13,Babylon 5,(no genres listed)\r\n",
    )
    .unwrap();
    std::fs::write(
        d.join("ratings.csv"),
        "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,11,3.5,964981247\r\n7,13,0.5,964982224\r\n7,12,5.0,964983815\r\n",
    )
    .unwrap();
    let ml = load_ml_latest(d, &MovieLensOptions::default()).unwrap();
    assert_eq!(ml.items.num_rows(), 4);
    assert_eq!(ml.items.value(1, 1), Some(Value::Text("American President, The".into())));
    assert_eq!(ml.items.value(2, 1), Some(Value::Text("\"Great Performances\" Cats".into())));
    assert_eq!(ml.items.value(2, 2), Some(Value::Number(1998.0)));
    assert_eq!((ml.items.value(3, 2), ml.items.value(3, 3)), (None, None));
    assert_eq!(ml.ratings.value(2, 2), Some(Value::Number(0.5)));
    assert_eq!(ml.users.strings("user_id").unwrap(), [Some("1"), Some("7")]);
    assert_eq!(ml.users.missing_per_column(), [0, 2, 2, 2, 2]);
    let model = ml.model_table().unwrap();
    assert_eq!(model.num_rows(), 4);
    assert_eq!(model.value(1, 8), Some(Value::Text("American President, The".into())));
}
