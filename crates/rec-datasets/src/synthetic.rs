//! Deterministic synthetic tables with planted dependencies, for tests, benches and demos.
//!
//! Every generator is a pure function of `(n_rows, seed)` (plus shape parameters): the same
//! arguments give the same table on every platform (ChaCha8 streams, no floating-point
//! library functions beyond `ln`, `sqrt`, `cos` and `exp`). The tables are complete; punch
//! holes with [`inject`](crate::missingness::inject).
//!
//! - [`adclick_like`]: the columns of the AdClick table, generated from a hidden persona per
//!   row so that every column is well predicted by the others (imputation from the other
//!   columns beats the mode by a wide margin), and `click` a logistic function of the rest.
//!   This is the project's embedded demo data.
//! - [`correlated_gaussians`]: equicorrelated standard normal columns, for numeric imputers.
//! - [`mixed`]: one column of every kind (id, numeric, categorical, set-valued, text) with
//!   dependencies between them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rec_table::{ColumnKind, ColumnSpec, Schema, Table, Value};

use crate::adclick::ADCLICK_COLUMNS;
use crate::error::{Error, Result};

/// Categories of the AdClick-shaped columns (the labels of the real file).
pub const GENDERS: [&str; 3] = ["Female", "Male", "Non-Binary"];
/// Device types.
pub const DEVICES: [&str; 3] = ["Desktop", "Mobile", "Tablet"];
/// Ad positions.
pub const POSITIONS: [&str; 3] = ["Bottom", "Side", "Top"];
/// Browsing histories.
pub const HISTORIES: [&str; 5] = ["Education", "Entertainment", "News", "Shopping", "Social Media"];
/// Times of day.
pub const TIMES: [&str; 4] = ["Afternoon", "Evening", "Morning", "Night"];

/// A hidden persona: the mean age and the most likely label of each categorical column.
struct Persona {
    age: f64,
    gender: usize,
    device: usize,
    history: usize,
    time: usize,
}

const PERSONAS: [Persona; 4] = [
    // student: young, mobile, social media, night
    Persona { age: 22.0, gender: 0, device: 1, history: 4, time: 3 },
    // professional: desktop, news, morning
    Persona { age: 36.0, gender: 1, device: 0, history: 2, time: 2 },
    // parent: tablet, shopping, evening
    Persona { age: 47.0, gender: 2, device: 2, history: 3, time: 1 },
    // retiree: desktop, education, afternoon
    Persona { age: 60.0, gender: 1, device: 0, history: 0, time: 0 },
];

/// An AdClick-shaped table of `n_rows` rows with the columns of
/// [`ADCLICK_COLUMNS`] (`click` numeric 0/1).
///
/// Each row draws a hidden persona (4, equally likely). Age is normal around the persona's
/// mean (sd 4, rounded, clamped to 18..=64); gender, device, browsing history and time of day
/// are the persona's label with probability 0.8 (gender 0.7), else uniform; the ad position
/// follows the device (Mobile → Top, Desktop → Side, Tablet → Bottom with probability 0.8).
/// `click` is Bernoulli with log-odds
/// `−1.2 + 2·[Top] + 1.5·[Shopping or Entertainment] + 1·[Evening or Night] − 0.04·(age − 40)`.
pub fn adclick_like(n_rows: usize, seed: u64) -> Result<Table> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cols: Vec<Vec<Option<Value>>> = empty_columns(ADCLICK_COLUMNS.len(), n_rows);
    let cat = |s: &str| Some(Value::Category(s.to_string()));
    for _ in 0..n_rows {
        let p = &PERSONAS[rng.random_range(0..PERSONAS.len())];
        let age = (p.age + 4.0 * normal(&mut rng)).round().clamp(18.0, 64.0);
        let gender = pick(&mut rng, p.gender, 0.7, GENDERS.len());
        let device = pick(&mut rng, p.device, 0.8, DEVICES.len());
        let position = pick(&mut rng, [1, 2, 0][device], 0.8, POSITIONS.len());
        let history = pick(&mut rng, p.history, 0.8, HISTORIES.len());
        let time = pick(&mut rng, p.time, 0.8, TIMES.len());
        let logit = -1.2
            + 2.0 * f64::from(u8::from(position == 2))
            + 1.5 * f64::from(u8::from(history == 1 || history == 3))
            + f64::from(u8::from(time == 1 || time == 3))
            - 0.04 * (age - 40.0);
        let click = f64::from(u8::from(rng.random::<f64>() < sigmoid(logit)));
        cols[0].push(Some(Value::Number(age)));
        cols[1].push(cat(GENDERS[gender]));
        cols[2].push(cat(DEVICES[device]));
        cols[3].push(cat(POSITIONS[position]));
        cols[4].push(cat(HISTORIES[history]));
        cols[5].push(cat(TIMES[time]));
        cols[6].push(Some(Value::Number(click)));
    }
    let schema = Schema::try_new(ADCLICK_COLUMNS.iter().map(|(n, k)| ColumnSpec::new(*n, *k)).collect())?;
    Ok(Table::from_columns(schema, cols)?)
}

/// `n_cols` numeric columns `x0`, `x1`, ... of `n_rows` standard normal values with
/// correlation `rho` between every pair (`xⱼ = √ρ·f + √(1−ρ)·eⱼ` with a shared factor `f`).
///
/// `rho` must be in `[0, 1]`; with `rho` near 1 each column is almost a copy of the others,
/// the easy case for regression imputers, with 0 mean imputation is optimal.
pub fn correlated_gaussians(n_rows: usize, n_cols: usize, rho: f64, seed: u64) -> Result<Table> {
    if !(0.0..=1.0).contains(&rho) {
        return Err(Error::InvalidArgument(format!("correlation {rho} is outside [0, 1]")));
    }
    if n_cols == 0 {
        return Err(Error::InvalidArgument("a table needs at least one column".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cols: Vec<Vec<Option<Value>>> = empty_columns(n_cols, n_rows);
    let (a, b) = (rho.sqrt(), (1.0 - rho).sqrt());
    for _ in 0..n_rows {
        let f = normal(&mut rng);
        for col in &mut cols {
            col.push(Some(Value::Number(a * f + b * normal(&mut rng))));
        }
    }
    let schema = Schema::try_new((0..n_cols).map(|j| ColumnSpec::new(format!("x{j}"), ColumnKind::Numeric)).collect())?;
    Ok(Table::from_columns(schema, cols)?)
}

const SEGMENTS: [&str; 3] = ["family", "thrill", "arthouse"];
const GENRES: [&str; 6] = ["Animation", "Comedy", "Action", "Thriller", "Drama", "Romance"];
const TITLE_WORDS: [&str; 6] = ["Toys", "Party", "Mission", "Shadows", "Letters", "Hearts"];
const ADJECTIVES: [&str; 5] = ["Little", "Last", "Secret", "Golden", "Quiet"];

/// A table with one column of each kind and planted dependencies:
///
/// | column | kind | depends on |
/// |---|---|---|
/// | `user_id` | id | (unique `u<i>`) |
/// | `segment` | categorical | hidden, one of `family`, `thrill`, `arthouse` |
/// | `age` | numeric | segment (means 30, 27, 45; sd 5) |
/// | `genres` | set-valued | segment: its two genres with probability 0.85 each, others 0.08 |
/// | `title` | text | first genre (a word tied to it, like "Mission" for Action) |
/// | `score` | numeric | age, segment, number of genres, plus noise (sd 0.3) |
pub fn mixed(n_rows: usize, seed: u64) -> Result<Table> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cols: Vec<Vec<Option<Value>>> = empty_columns(6, n_rows);
    for i in 0..n_rows {
        let s = rng.random_range(0..SEGMENTS.len());
        let age = ([30.0, 27.0, 45.0][s] + 5.0 * normal(&mut rng)).round();
        let mut genres: Vec<usize> =
            (0..GENRES.len()).filter(|&g| rng.random::<f64>() < if g / 2 == s { 0.85 } else { 0.08 }).collect();
        if genres.is_empty() {
            genres.push(2 * s);
        }
        let title = format!("{} {}", ADJECTIVES[rng.random_range(0..ADJECTIVES.len())], TITLE_WORDS[genres[0]]);
        let score = 0.02 * age + [0.5, -0.5, 1.0][s] + 0.2 * genres.len() as f64 + 0.3 * normal(&mut rng);
        cols[0].push(Some(Value::Category(format!("u{i}"))));
        cols[1].push(Some(Value::Category(SEGMENTS[s].to_string())));
        cols[2].push(Some(Value::Number(age)));
        cols[3].push(Some(Value::Set(genres.iter().map(|&g| GENRES[g].to_string()).collect())));
        cols[4].push(Some(Value::Text(title)));
        cols[5].push(Some(Value::Number(score)));
    }
    let schema = Schema::try_new(vec![
        ColumnSpec::new("user_id", ColumnKind::Id),
        ColumnSpec::new("segment", ColumnKind::Categorical),
        ColumnSpec::new("age", ColumnKind::Numeric),
        ColumnSpec::new("genres", ColumnKind::SetValued),
        ColumnSpec::new("title", ColumnKind::Text),
        ColumnSpec::new("score", ColumnKind::Numeric),
    ])?;
    Ok(Table::from_columns(schema, cols)?)
}

/// `n` empty columns with room for `rows` values each.
fn empty_columns(n: usize, rows: usize) -> Vec<Vec<Option<Value>>> {
    (0..n).map(|_| Vec::with_capacity(rows)).collect()
}

/// `dominant` with probability `p`, else a uniform draw over `0..n` (which may be `dominant`).
fn pick(rng: &mut ChaCha8Rng, dominant: usize, p: f64, n: usize) -> usize {
    if rng.random::<f64>() < p {
        dominant
    } else {
        rng.random_range(0..n)
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
