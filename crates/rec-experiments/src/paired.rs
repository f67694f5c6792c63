//! Paired comparisons of two imputers over the seeds both ran: the cells of one seed share
//! their holes and their split, so the per-seed difference removes what the seed alone moves.

/// The difference `a − b` of a metric, paired by seed, with a two-sided paired t-test at 5%.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// Seeds both ran.
    pub n: usize,
    /// Mean of the per-seed differences.
    pub mean: f64,
    /// Standard error of that mean (sample std / √n).
    pub se: f64,
    /// The t statistic, `mean / se` (infinite when every difference is the same non-zero
    /// number, NaN when all are zero).
    pub t: f64,
    /// The critical |t| of a two-sided test at 5% with `n − 1` degrees of freedom.
    pub critical: f64,
}

impl Paired {
    /// Whether the difference is beyond seed noise: |t| above the critical value.
    pub fn beyond_noise(&self) -> bool {
        self.t.abs() > self.critical
    }
}

/// Two-sided 5% critical values of Student's t for 1 to 30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// The two-sided 5% critical |t| for `df` degrees of freedom (the normal's 1.960 beyond 120,
/// interpolated in 1/df between 30 and 120: 2.000 at 60, 1.980 at 120).
fn critical_t(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T_975[df - 1],
        _ => {
            // Linear in 1/df through (30, 2.042), (60, 2.000), (120, 1.980), (inf, 1.960).
            let x = 1.0 / df as f64;
            if df <= 60 {
                2.000 + (2.042 - 2.000) * (x - 1.0 / 60.0) / (1.0 / 30.0 - 1.0 / 60.0)
            } else if df <= 120 {
                1.980 + (2.000 - 1.980) * (x - 1.0 / 120.0) / (1.0 / 60.0 - 1.0 / 120.0)
            } else {
                1.960 + (1.980 - 1.960) * x / (1.0 / 120.0)
            }
        }
    }
}

/// Pairs `a` and `b` (each `(seed, value)`) by seed and tests `a − b`; `None` with fewer than
/// two shared seeds or a non-finite value among them.
///
/// ```
/// use rec_experiments::paired;
///
/// let llm = [(0, 0.912), (1, 0.915), (2, 0.910)];
/// let knn = [(0, 0.921), (1, 0.925), (2, 0.918), (3, 0.930)];
/// let p = paired(&llm, &knn).unwrap();
/// assert_eq!(p.n, 3); // seed 3 has no pair
/// assert!((p.mean + 0.009).abs() < 1e-9);
/// assert!(p.beyond_noise()); // -0.009 every seed, give or take 0.001: t ≈ -15.6 > 4.303
/// ```
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Paired> {
    let diffs: Vec<f64> =
        a.iter().filter_map(|(seed, x)| b.iter().find(|(s, _)| s == seed).map(|(_, y)| x - y)).collect();
    if diffs.len() < 2 || diffs.iter().any(|d| !d.is_finite()) {
        return None;
    }
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = sd / n.sqrt();
    Some(Paired { n: diffs.len(), mean, se, t: mean / se, critical: critical_t(diffs.len() - 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_not_a_difference() {
        // Differences of +0.01, -0.01, +0.005: centred near zero.
        let p = paired(&[(0, 1.01), (1, 0.99), (2, 1.005)], &[(0, 1.0), (1, 1.0), (2, 1.0)]).unwrap();
        assert!(!p.beyond_noise(), "{p:?}");
        assert!((p.se - 0.00601).abs() < 1e-4, "{p:?}");
        // One seed is no comparison; an unpaired seed is ignored.
        assert!(paired(&[(0, 1.0)], &[(0, 2.0)]).is_none());
        assert!(paired(&[(0, 1.0), (1, 1.0)], &[(0, 2.0), (5, 2.0)]).is_none());
        assert!(paired(&[(0, f64::NAN), (1, 1.0)], &[(0, 2.0), (1, 2.0)]).is_none());
        // The table's ends.
        assert_eq!(critical_t(2), 4.303);
        assert!((critical_t(60) - 2.0).abs() < 1e-12 && (critical_t(120) - 1.98).abs() < 1e-12);
        assert!(critical_t(10_000) > 1.96 && critical_t(10_000) < 1.961);
        assert!(critical_t(31) < 2.042 && critical_t(31) > 2.0);
    }
}
