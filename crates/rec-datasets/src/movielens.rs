//! MovieLens loaders for the original GroupLens formats: ml-100k, ml-1m and ml-latest.
//!
//! Every loader returns a [`MovieLens`] of three tables with fixed schemas:
//!
//! | table | columns |
//! |---|---|
//! | users ([`user_schema`]) | `user_id` (id), `age` (numeric), `gender`, `occupation`, `region` (categorical) |
//! | items ([`item_schema`]) | `item_id` (id), `title` (text), `year` (numeric), `genres` (set-valued) |
//! | ratings ([`rating_schema`]) | `user_id`, `item_id` (id), `rating`, `timestamp` (numeric) |
//!
//! and [`MovieLens::model_table`] joins them (rating ⋈ user ⋈ item) into the table the
//! recommendation tasks train on, one row per rating in the ratings file's order.
//!
//! Conventions, the same for the three formats:
//! - `region` is derived from the zip code by [`zip_region`]: `"zip0"`..`"zip9"`, the first
//!   digit of a US zip code (the national area), or `"other"` for anything else (the Canadian
//!   postal codes of ml-100k, blanks).
//! - `title` is the title without its year: `"Toy Story (1995)"` becomes `"Toy Story"`. The
//!   placeholder title `unknown` (ml-100k item 267, which has no data at all) is a missing cell.
//! - `year` is the year in the title, else (ml-100k) the year of the release date, else missing.
//! - `genres` is the set of genre labels. The "unknown" genre of ml-100k and the
//!   "(no genres listed)" of ml-latest mean that nobody recorded the genres, so by default
//!   they become a missing cell, a natural gap an imputer may fill; [`UnknownGenre`] selects
//!   an empty set or a label `"unknown"` instead.
//! - ml-1m codes age as the lower bound of an age bracket (1 = under 18, 18, 25, 35, 45, 50,
//!   56) and occupation as a number; `age` keeps the code as a number and `occupation` gets
//!   the name from the ml-1m README ([`ML1M_OCCUPATIONS`]).
//! - ml-latest has no user attributes: its user table holds only the `user_id`s of the
//!   ratings (in order of first appearance), with the other columns missing.
//!
//! The ml-100k files and ml-1m `.dat` files are ISO-8859-1; a file that is valid UTF-8 is read
//! as UTF-8 instead (see the crate's decoding note in [`load_ml100k`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rec_table::{ColumnKind, ColumnSpec, CsvOptions, Schema, Table, Value};

use crate::error::{Error, Result};
use crate::join::Lookup;
use crate::text::{fields, lines, number, read_text};

/// The occupations of ml-1m by code (from the ml-1m README).
pub const ML1M_OCCUPATIONS: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

/// How an item whose genre is recorded as unknown is represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownGenre {
    /// A missing cell (the default): the genres were not recorded.
    #[default]
    Missing,
    /// An observed empty set.
    EmptySet,
    /// A set holding the label `"unknown"`.
    Label,
}

/// Options of the MovieLens loaders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MovieLensOptions {
    /// How the "unknown" / "(no genres listed)" genre is represented.
    pub unknown_genre: UnknownGenre,
}

/// The three tables of a MovieLens release (see the [module docs](self) for their schemas).
#[derive(Debug, Clone, PartialEq)]
pub struct MovieLens {
    /// One row per user.
    pub users: Table,
    /// One row per item (movie).
    pub items: Table,
    /// One row per rating, in file order.
    pub ratings: Table,
}

impl MovieLens {
    /// The model table: every rating joined with its user's and its item's attributes, in the
    /// order of the ratings (see [`join_ratings`]).
    pub fn model_table(&self) -> Result<Table> {
        join_ratings(&self.ratings, &self.users, &self.items)
    }
}

/// The schema of a MovieLens user table.
pub fn user_schema() -> Schema {
    schema(&[
        ("user_id", ColumnKind::Id),
        ("age", ColumnKind::Numeric),
        ("gender", ColumnKind::Categorical),
        ("occupation", ColumnKind::Categorical),
        ("region", ColumnKind::Categorical),
    ])
}

/// The schema of a MovieLens item table.
pub fn item_schema() -> Schema {
    schema(&[
        ("item_id", ColumnKind::Id),
        ("title", ColumnKind::Text),
        ("year", ColumnKind::Numeric),
        ("genres", ColumnKind::SetValued),
    ])
}

/// The schema of a MovieLens ratings table.
pub fn rating_schema() -> Schema {
    schema(&[
        ("user_id", ColumnKind::Id),
        ("item_id", ColumnKind::Id),
        ("rating", ColumnKind::Numeric),
        ("timestamp", ColumnKind::Numeric),
    ])
}

fn schema(cols: &[(&str, ColumnKind)]) -> Schema {
    let specs = cols.iter().map(|(n, k)| ColumnSpec::new(*n, *k)).collect();
    // The names are distinct and non-empty literals, so this cannot fail.
    Schema::try_new(specs).unwrap_or_else(|_| unreachable!("fixed schema"))
}

/// The region of a zip code: `"zip<d>"` where `d` is the first digit of a US zip code (its
/// first five characters are digits, as in `"85711"` or `"55117-1234"`), else `"other"`
/// (Canadian postal codes like `"T8H1N"`, blanks, anything shorter).
///
/// ```
/// use rec_datasets::movielens::zip_region;
/// assert_eq!(zip_region("85711"), "zip8");
/// assert_eq!(zip_region("02139-4307"), "zip0");
/// assert_eq!(zip_region("T8H1N"), "other");
/// ```
pub fn zip_region(zip: &str) -> String {
    let zip = zip.trim();
    let head = zip.as_bytes().get(..5);
    match head {
        Some(h) if h.iter().all(u8::is_ascii_digit) => format!("zip{}", h[0] as char),
        _ => "other".to_string(),
    }
}

/// Splits a MovieLens title into the title without its year and the year:
/// `"Toy Story (1995)"` → `("Toy Story", Some(1995))`. The last parenthesised group of four
/// digits (optionally a range like `(1994-1998)`) is the year, wherever it stands, so
/// `"Land Before Time III (1995) (V)"` → `("Land Before Time III (V)", Some(1995))`.
///
/// ```
/// use rec_datasets::movielens::split_title;
/// assert_eq!(split_title("Misérables, Les (1995)"), ("Misérables, Les".to_string(), Some(1995)));
/// assert_eq!(split_title("Babylon 5"), ("Babylon 5".to_string(), None));
/// ```
pub fn split_title(raw: &str) -> (String, Option<i32>) {
    for (open, _) in raw.match_indices('(').collect::<Vec<_>>().into_iter().rev() {
        let Some(len) = raw[open..].find(')') else { continue };
        let inner = &raw[open + 1..open + len];
        let digits = inner.as_bytes();
        let is_year = digits.len() >= 4
            && digits[..4].iter().all(u8::is_ascii_digit)
            && inner[4..].chars().all(|c| c.is_ascii_digit() || c == '-' || c == '–');
        if is_year {
            let year = inner[..4].parse().ok();
            let rest = format!("{} {}", &raw[..open], &raw[open + len + 1..]);
            let title = rest.split_whitespace().collect::<Vec<_>>().join(" ");
            return (title, year);
        }
    }
    (raw.trim().to_string(), None)
}

/// Joins ratings with user and item attributes: the ratings' columns, then the user columns
/// except `user_id`, then the item columns except `item_id`, one row per rating in order.
///
/// Every rating's user and item must be present in the tables (an error names the first that
/// is not); user and item ids must be unique.
pub fn join_ratings(ratings: &Table, users: &Table, items: &Table) -> Result<Table> {
    crate::join::lookup_join(
        ratings,
        "ratings",
        &[Lookup::new(users, "the user table", "user_id"), Lookup::new(items, "the item table", "item_id")],
    )
}

/// The recommender's feature table of the ratings at `rows` (indices into `ratings`): the
/// ratings joined with the (possibly imputed) `users` and `items` as in [`join_ratings`],
/// without `timestamp` and `title` (a time stamp and free text are not features here). The
/// one assembly of the MovieLens tasks: the experiment runner and the DLRM example use it.
pub fn rating_features(ratings: &Table, rows: &[usize], users: &Table, items: &Table) -> Result<Table> {
    let joined = join_ratings(&ratings.take_rows(rows)?, users, items)?;
    let drop: Vec<&str> = ["timestamp", "title"].into_iter().filter(|c| joined.schema().index_of(c).is_ok()).collect();
    Ok(joined.drop_columns(&drop)?)
}

/// Loads ml-100k from its directory (`u.data`, `u.user`, `u.item`, `u.genre`, `u.occupation`).
///
/// `u.data` is tab-separated (user, item, rating, timestamp); the others are `|`-separated.
/// `u.item` carries 19 genre flags whose names come from `u.genre`; every user's occupation
/// must be listed in `u.occupation`. The files are ISO-8859-1 (titles like
/// `"Misérables, Les (1995)"`); a file that is valid UTF-8 is decoded as UTF-8.
pub fn load_ml100k(dir: impl AsRef<Path>, opts: &MovieLensOptions) -> Result<MovieLens> {
    let dir = dir.as_ref();
    let genres = read_ml100k_genres(&dir.join("u.genre"))?;
    let occupations = read_ml100k_occupations(&dir.join("u.occupation"))?;

    let path = dir.join("u.user");
    let text = read_text(&path)?;
    let mut users = UserColumns::default();
    for (no, line) in lines(&text) {
        let f = fields(line, "|", 5, &path, no)?;
        if !occupations.contains(f[3]) {
            return Err(Error::parse(&path, no, format!("occupation {:?} is not listed in u.occupation", f[3])));
        }
        users.push(f[0], Some(number(f[1], "age", &path, no)?), f[2], f[3], f[4]);
    }

    let path = dir.join("u.item");
    let text = read_text(&path)?;
    let mut items = ItemColumns::default();
    for (no, line) in lines(&text) {
        let f = fields(line, "|", 5 + genres.len(), &path, no)?;
        let mut set = Vec::new();
        let mut unknown = false;
        for (flag, name) in f[5..].iter().zip(&genres) {
            match flag.trim() {
                "0" => {}
                "1" if name == "unknown" => unknown = true,
                "1" => set.push(name.clone()),
                other => {
                    return Err(Error::parse(&path, no, format!("genre flag {name:?} is {other:?}, not 0 or 1")));
                }
            }
        }
        let genres = genre_value(set, unknown, opts.unknown_genre);
        let date_year = f[2].trim().rsplit('-').next().and_then(|y| y.parse::<i32>().ok());
        items.push(f[0], f[1], date_year, genres);
    }

    let path = dir.join("u.data");
    let text = read_text(&path)?;
    let mut ratings = RatingColumns::default();
    for (no, line) in lines(&text) {
        let f = fields(line, "\t", 4, &path, no)?;
        ratings.push(f[0], f[1], number(f[2], "rating", &path, no)?, number(f[3], "timestamp", &path, no)?);
    }
    Ok(MovieLens { users: users.finish()?, items: items.finish()?, ratings: ratings.finish()? })
}

fn read_ml100k_genres(path: &Path) -> Result<Vec<String>> {
    let text = read_text(path)?;
    let mut genres = Vec::new();
    for (no, line) in lines(&text) {
        let f = fields(line, "|", 2, path, no)?;
        let index = number(f[1], "genre index", path, no)?;
        if index != genres.len() as f64 {
            return Err(Error::parse(path, no, format!("genre index {} where {} was expected", f[1], genres.len())));
        }
        genres.push(f[0].trim().to_string());
    }
    if genres.is_empty() {
        return Err(Error::parse(path, 1, "no genres listed"));
    }
    Ok(genres)
}

fn read_ml100k_occupations(path: &Path) -> Result<HashSet<String>> {
    let text = read_text(path)?;
    Ok(lines(&text).map(|(_, l)| l.trim().to_string()).collect())
}

/// Loads ml-1m from its directory (`users.dat`, `movies.dat`, `ratings.dat`, `::`-separated).
///
/// `users.dat` is `UserID::Gender::Age::Occupation::Zip-code` with age and occupation coded
/// (see the [module docs](self)); `movies.dat` is `MovieID::Title::Genres` with `|`-separated
/// genres; `ratings.dat` is `UserID::MovieID::Rating::Timestamp`.
pub fn load_ml1m(dir: impl AsRef<Path>, opts: &MovieLensOptions) -> Result<MovieLens> {
    let dir = dir.as_ref();
    let path = dir.join("users.dat");
    let text = read_text(&path)?;
    let mut users = UserColumns::default();
    for (no, line) in lines(&text) {
        let f = fields(line, "::", 5, &path, no)?;
        let code = number(f[3], "occupation", &path, no)?;
        let occupation = ML1M_OCCUPATIONS
            .get(code as usize)
            .filter(|_| code.fract() == 0.0 && code >= 0.0)
            .ok_or_else(|| Error::parse(&path, no, format!("occupation code {:?} is not in 0..=20", f[3])))?;
        users.push(f[0], Some(number(f[2], "age", &path, no)?), f[1], occupation, f[4]);
    }

    let path = dir.join("movies.dat");
    let text = read_text(&path)?;
    let mut items = ItemColumns::default();
    for (no, line) in lines(&text) {
        let f = fields(line, "::", 3, &path, no)?;
        let (set, unknown) = parse_genre_list(f[2]);
        items.push(f[0], f[1], None, genre_value(set, unknown, opts.unknown_genre));
    }

    let path = dir.join("ratings.dat");
    let text = read_text(&path)?;
    let mut ratings = RatingColumns::default();
    for (no, line) in lines(&text) {
        let f = fields(line, "::", 4, &path, no)?;
        ratings.push(f[0], f[1], number(f[2], "rating", &path, no)?, number(f[3], "timestamp", &path, no)?);
    }
    Ok(MovieLens { users: users.finish()?, items: items.finish()?, ratings: ratings.finish()? })
}

/// Loads an ml-latest (or ml-latest-small, ml-20m, ml-25m, ml-32m) directory: `ratings.csv`
/// (`userId,movieId,rating,timestamp`) and `movies.csv` (`movieId,title,genres`), UTF-8 CSV
/// with a header, quoted titles and `|`-separated genres; CRLF line ends are accepted.
///
/// These releases have no user attributes: the user table lists the users of the ratings.
pub fn load_ml_latest(dir: impl AsRef<Path>, opts: &MovieLensOptions) -> Result<MovieLens> {
    let dir = dir.as_ref();
    let csv = |path: &PathBuf, cols: &[(&str, ColumnKind)]| -> Result<Table> {
        let opts = CsvOptions::default().with_schema(schema(cols)).with_missing_tokens([""]);
        Ok(rec_table::read_csv(path, &opts)?)
    };
    let path = dir.join("movies.csv");
    let movies = csv(&path, &[("movieId", ColumnKind::Id), ("title", ColumnKind::Text), ("genres", ColumnKind::Text)])?;
    let mut items = ItemColumns::default();
    let (ids, titles, genres) = (movies.strings("movieId")?, movies.strings("title")?, movies.strings("genres")?);
    for row in 0..movies.num_rows() {
        // Line numbers: the header is line 1 (titles never span lines in these files).
        let no = row as u64 + 2;
        let id = ids[row].ok_or_else(|| Error::parse(&path, no, "movieId is empty"))?;
        let (set, unknown) = genres[row].map_or((Vec::new(), true), parse_genre_list);
        items.push(id, titles[row].unwrap_or("unknown"), None, genre_value(set, unknown, opts.unknown_genre));
    }

    let path = dir.join("ratings.csv");
    let table = csv(
        &path,
        &[
            ("userId", ColumnKind::Id),
            ("movieId", ColumnKind::Id),
            ("rating", ColumnKind::Numeric),
            ("timestamp", ColumnKind::Numeric),
        ],
    )?;
    let ratings = Table::from_arrays(rating_schema(), table.batch().columns().to_vec(), table.num_rows())
        .map_err(Error::in_file(&path))?;
    let mut users = UserColumns::default();
    let mut seen = HashSet::new();
    for (row, id) in ratings.strings("user_id")?.into_iter().enumerate() {
        let id = id.ok_or_else(|| Error::parse(&path, row as u64 + 2, "userId is empty"))?;
        if seen.insert(id) {
            users.ids.push(Some(Value::Category(id.to_string())));
        }
    }
    let n = users.ids.len();
    users.ages = vec![None; n];
    users.genders = vec![None; n];
    users.occupations = vec![None; n];
    users.regions = vec![None; n];
    Ok(MovieLens { users: users.finish()?, items: items.finish()?, ratings })
}

/// `Action|Comedy` → the labels, and whether the genres are recorded as unknown.
fn parse_genre_list(text: &str) -> (Vec<String>, bool) {
    let mut unknown = false;
    let mut set = Vec::new();
    for g in text.split('|').map(str::trim).filter(|g| !g.is_empty()) {
        if g == "(no genres listed)" || g.eq_ignore_ascii_case("unknown") {
            unknown = true;
        } else {
            set.push(g.to_string());
        }
    }
    let unknown = unknown || set.is_empty();
    (set, unknown)
}

fn genre_value(set: Vec<String>, unknown: bool, mode: UnknownGenre) -> Option<Value> {
    if !unknown || !set.is_empty() {
        // A known genre next to the unknown flag wins: the flag adds nothing.
        return Some(Value::Set(set));
    }
    match mode {
        UnknownGenre::Missing => None,
        UnknownGenre::EmptySet => Some(Value::Set(Vec::new())),
        UnknownGenre::Label => Some(Value::Set(vec!["unknown".to_string()])),
    }
}

#[derive(Default)]
struct UserColumns {
    ids: Vec<Option<Value>>,
    ages: Vec<Option<Value>>,
    genders: Vec<Option<Value>>,
    occupations: Vec<Option<Value>>,
    regions: Vec<Option<Value>>,
}

impl UserColumns {
    fn push(&mut self, id: &str, age: Option<f64>, gender: &str, occupation: &str, zip: &str) {
        let label = |s: &str| (!s.trim().is_empty()).then(|| Value::Category(s.trim().to_string()));
        self.ids.push(Some(Value::Category(id.trim().to_string())));
        self.ages.push(age.map(Value::Number));
        self.genders.push(label(gender));
        self.occupations.push(label(occupation));
        self.regions.push(Some(Value::Category(zip_region(zip))));
    }

    fn finish(self) -> Result<Table> {
        let cols = vec![self.ids, self.ages, self.genders, self.occupations, self.regions];
        Ok(Table::from_columns(user_schema(), cols)?)
    }
}

#[derive(Default)]
struct ItemColumns {
    ids: Vec<Option<Value>>,
    titles: Vec<Option<Value>>,
    years: Vec<Option<Value>>,
    genres: Vec<Option<Value>>,
}

impl ItemColumns {
    fn push(&mut self, id: &str, raw_title: &str, fallback_year: Option<i32>, genres: Option<Value>) {
        let (title, year) = split_title(raw_title);
        self.ids.push(Some(Value::Category(id.trim().to_string())));
        let known = !title.is_empty() && !title.eq_ignore_ascii_case("unknown");
        self.titles.push(known.then_some(Value::Text(title)));
        self.years.push(year.or(fallback_year).map(|y| Value::Number(f64::from(y))));
        self.genres.push(genres);
    }

    fn finish(self) -> Result<Table> {
        Ok(Table::from_columns(item_schema(), vec![self.ids, self.titles, self.years, self.genres])?)
    }
}

#[derive(Default)]
struct RatingColumns {
    users: Vec<Option<Value>>,
    items: Vec<Option<Value>>,
    ratings: Vec<Option<Value>>,
    times: Vec<Option<Value>>,
}

impl RatingColumns {
    fn push(&mut self, user: &str, item: &str, rating: f64, time: f64) {
        self.users.push(Some(Value::Category(user.trim().to_string())));
        self.items.push(Some(Value::Category(item.trim().to_string())));
        self.ratings.push(Some(Value::Number(rating)));
        self.times.push(Some(Value::Number(time)));
    }

    fn finish(self) -> Result<Table> {
        Ok(Table::from_columns(rating_schema(), vec![self.users, self.items, self.ratings, self.times])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_years() {
        assert_eq!(split_title("Toy Story (1995)"), ("Toy Story".into(), Some(1995)));
        assert_eq!(split_title("Babylon 5 (1994-1998) "), ("Babylon 5".into(), Some(1994)));
        assert_eq!(
            split_title("Land Before Time III: The Time of the Great Giving (1995) (V)"),
            ("Land Before Time III: The Time of the Great Giving (V)".into(), Some(1995))
        );
        assert_eq!(split_title("1984 (1984)"), ("1984".into(), Some(1984)));
        assert_eq!(split_title("City (of God)"), ("City (of God)".into(), None));
        assert_eq!(split_title("Open (19"), ("Open (19".into(), None));
    }

    #[test]
    fn regions() {
        assert_eq!(zip_region("00000"), "zip0");
        assert_eq!(zip_region(" 94043 "), "zip9");
        assert_eq!(zip_region("9404"), "other");
        assert_eq!(zip_region(""), "other");
        assert_eq!(zip_region("V5A2B"), "other");
    }

    #[test]
    fn genre_lists() {
        assert_eq!(parse_genre_list("Action|Comedy"), (vec!["Action".into(), "Comedy".into()], false));
        assert_eq!(parse_genre_list("(no genres listed)"), (vec![], true));
        assert_eq!(genre_value(vec![], true, UnknownGenre::Missing), None);
        assert_eq!(genre_value(vec![], true, UnknownGenre::EmptySet), Some(Value::Set(vec![])));
        assert_eq!(genre_value(vec![], true, UnknownGenre::Label), Some(Value::Set(vec!["unknown".into()])));
    }
}
