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
//!   This is the project's embedded demo data. [`adclick_like_posterior`] and
//!   [`adclick_like_bayes_fill`] give the generator's own (Bayes) answer for its missing
//!   cells: the ceiling an imputer is measured against.
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

/// What [`adclick_like`]'s generator says about one row's cells, given the row's observed
/// cells (the Bayes posterior under the generator's own parameters): the best any imputer can
/// do on that row, in expectation, when the table has no `click` column (as in the quality
/// grid's demo table).
///
/// Category probabilities are in the order of [`GENDERS`], [`DEVICES`], [`POSITIONS`],
/// [`HISTORIES`] and [`TIMES`]. `click` is neither used as evidence nor predicted: an observed
/// click says a little about the other columns, which this posterior leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct AdclickPosterior {
    /// Posterior of the hidden persona (student, professional, parent, retiree).
    pub persona: [f64; 4],
    /// Posterior mean of the age (what minimises squared error).
    pub age_mean: f64,
    /// Gender probabilities.
    pub gender: [f64; 3],
    /// Device probabilities.
    pub device: [f64; 3],
    /// Ad position probabilities.
    pub position: [f64; 3],
    /// Browsing history probabilities.
    pub history: [f64; 5],
    /// Time-of-day probabilities.
    pub time: [f64; 4],
}

/// The columns of [`adclick_like`] the posterior reads, in generator order.
const POSTERIOR_COLUMNS: [&str; 6] = ["age", "gender", "device_type", "ad_position", "browsing_history", "time_of_day"];

/// The Bayes posterior of row `row` of a table with [`adclick_like`]'s columns (`click` may be
/// absent), from its observed cells; the row's missing cells are what it predicts.
///
/// A label outside the generator's (say a typo) is an error naming the row and column.
///
/// ```
/// use rec_datasets::synthetic::{adclick_like, adclick_like_posterior};
/// let table = adclick_like(50, 7)?;
/// let post = adclick_like_posterior(&table, 0)?;
/// assert!((post.persona.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// # Ok::<(), rec_datasets::Error>(())
/// ```
pub fn adclick_like_posterior(table: &Table, row: usize) -> Result<AdclickPosterior> {
    if row >= table.num_rows() {
        return Err(Error::InvalidArgument(format!("row {row} is past the table's {} rows", table.num_rows())));
    }
    posterior_of(table, &posterior_columns(table)?, row)
}

/// Where [`POSTERIOR_COLUMNS`] are in `table`.
fn posterior_columns(table: &Table) -> Result<[usize; 6]> {
    let mut cols = [0; 6];
    for (col, name) in cols.iter_mut().zip(POSTERIOR_COLUMNS) {
        *col = table.schema().index_of(name).map_err(|_| {
            Error::InvalidArgument(format!("the table has no column '{name}' (adclick_like's columns are needed)"))
        })?;
    }
    Ok(cols)
}

/// [`adclick_like_posterior`] with the columns already located (`cols`, from
/// [`posterior_columns`]) and `row` known to be in the table.
fn posterior_of(table: &Table, cols: &[usize; 6], row: usize) -> Result<AdclickPosterior> {
    let mut observed: [Option<usize>; 6] = [None; 6];
    let mut age = None;
    let labels: [&[&str]; 6] = [&[], &GENDERS, &DEVICES, &POSITIONS, &HISTORIES, &TIMES];
    for (j, (name, &col)) in POSTERIOR_COLUMNS.iter().zip(cols).enumerate() {
        match (j, table.value(row, col)) {
            (_, None) => {}
            (0, Some(Value::Number(a))) => age = Some(a),
            (_, Some(Value::Category(label))) if j > 0 => {
                let i = labels[j].iter().position(|l| *l == label).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "row {row}, column '{name}': '{label}' is not one of the generator's labels ({})",
                        labels[j].join(", ")
                    ))
                })?;
                observed[j] = Some(i);
            }
            (_, Some(v)) => {
                return Err(Error::InvalidArgument(format!("row {row}, column '{name}': unexpected value {v}")))
            }
        }
    }
    // The latent of a row is (persona, device): the ad position depends on the device only.
    let mut joint = [[0.0f64; 3]; 4];
    for (k, p) in PERSONAS.iter().enumerate() {
        let mut w = 1.0;
        if let Some(a) = age {
            w *= age_probability(a, p.age);
        }
        for (j, dominant, q, n) in [(1, p.gender, 0.7, 3), (4, p.history, 0.8, 5), (5, p.time, 0.8, 4)] {
            if let Some(i) = observed[j] {
                w *= pick_probability(i, dominant, q, n);
            }
        }
        for (d, cell) in joint[k].iter_mut().enumerate() {
            let mut wd = w * pick_probability(d, p.device, 0.8, 3);
            if observed[2].is_some_and(|o| o != d) {
                wd = 0.0;
            }
            if let Some(pos) = observed[3] {
                wd *= pick_probability(pos, POSITION_OF_DEVICE[d], 0.8, 3);
            }
            *cell = wd;
        }
    }
    let total: f64 = joint.iter().flatten().sum();
    if total.is_nan() || total <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "row {row}: the observed cells have probability 0 under the generator"
        )));
    }
    joint.iter_mut().flatten().for_each(|w| *w /= total);
    let persona: [f64; 4] = std::array::from_fn(|k| joint[k].iter().sum());
    let device: [f64; 3] = std::array::from_fn(|d| joint.iter().map(|row| row[d]).sum());
    let position: [f64; 3] = std::array::from_fn(|pos| {
        (0..3).map(|d| device[d] * pick_probability(pos, POSITION_OF_DEVICE[d], 0.8, 3)).sum()
    });
    let over_personas =
        |f: &dyn Fn(&Persona) -> f64| -> f64 { PERSONAS.iter().zip(&persona).map(|(p, w)| w * f(p)).sum() };
    Ok(AdclickPosterior {
        persona,
        age_mean: over_personas(&|p| (18..=64).map(|a| f64::from(a) * age_probability(f64::from(a), p.age)).sum()),
        gender: std::array::from_fn(|i| over_personas(&|p| pick_probability(i, p.gender, 0.7, 3))),
        device,
        position,
        history: std::array::from_fn(|i| over_personas(&|p| pick_probability(i, p.history, 0.8, 5))),
        time: std::array::from_fn(|i| over_personas(&|p| pick_probability(i, p.time, 0.8, 4))),
    })
}

/// Fills every missing cell of [`adclick_like`]'s columns with the generator's Bayes answer
/// ([`adclick_like_posterior`]): the most probable label, and the posterior mean age. Observed
/// cells are kept; missing `click` cells stay missing. This is the ceiling an imputer is
/// judged against on the demo table, not an imputer: it knows how the table was made.
pub fn adclick_like_bayes_fill(table: &Table) -> Result<Table> {
    let cols = posterior_columns(table)?;
    let label = |labels: &[&str], probs: &[f64]| Value::Category(labels[argmax(probs)].to_string());
    let mut fills = Vec::new();
    for row in 0..table.num_rows() {
        if cols.iter().all(|&c| !table.is_missing(row, c)) {
            continue;
        }
        let post = posterior_of(table, &cols, row)?;
        for (j, &col) in cols.iter().enumerate() {
            if !table.is_missing(row, col) {
                continue;
            }
            let value = match j {
                0 => Value::Number(post.age_mean),
                1 => label(&GENDERS, &post.gender),
                2 => label(&DEVICES, &post.device),
                3 => label(&POSITIONS, &post.position),
                4 => label(&HISTORIES, &post.history),
                _ => label(&TIMES, &post.time),
            };
            fills.push((rec_table::Cell { row, col }, value));
        }
    }
    Ok(table.with_filled(fills)?)
}

/// Which ad position each device makes likely (Desktop → Side, Mobile → Top, Tablet → Bottom).
const POSITION_OF_DEVICE: [usize; 3] = [1, 2, 0];

/// Probability that [`pick`] returns `i`.
fn pick_probability(i: usize, dominant: usize, p: f64, n: usize) -> f64 {
    (1.0 - p) / n as f64 + if i == dominant { p } else { 0.0 }
}

/// Probability of the generated age `a` for a persona of mean age `mean` (normal, sd 4,
/// rounded, clamped to 18..=64).
fn age_probability(a: f64, mean: f64) -> f64 {
    let cdf = |x: f64| normal_cdf((x - mean) / 4.0);
    let lo = if a <= 18.0 { 0.0 } else { cdf(a - 0.5) };
    let hi = if a >= 64.0 { 1.0 } else { cdf(a + 0.5) };
    (hi - lo).max(0.0)
}

/// The standard normal CDF, through the complementary error function (the Chebyshev fit of
/// Press et al., *Numerical Recipes*, §6.2: fractional error below 1.2e-7 everywhere).
fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * (-x * x + poly).exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// Index of the largest value (the first on ties).
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
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
