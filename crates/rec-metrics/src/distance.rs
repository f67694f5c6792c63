//! Distances between samples and between sets: the two-sample Kolmogorov–Smirnov statistic, the
//! total variation distance of two categorical samples, and the Jaccard index.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::error::{check_finite, check_non_empty};
use crate::Result;

/// The two-sample Kolmogorov–Smirnov statistic: `sup_x |F_a(x) - F_b(x)|` between the empirical
/// distribution functions of `a` and `b`, in `[0, 1]`.
///
/// Equal values (ties, within and across samples) are handled exactly, so the value equals
/// SciPy's `ks_2samp(a, b).statistic`. The samples may differ in length. Errors when either is
/// empty or holds a NaN or infinite value.
///
/// ```
/// use rec_metrics::ks_statistic;
/// assert_eq!(ks_statistic(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0])?, 0.5);
/// # Ok::<(), rec_metrics::Error>(())
/// ```
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Result<f64> {
    check_non_empty("ks_statistic (first sample)", a.len() as u64)?;
    check_non_empty("ks_statistic (second sample)", b.len() as u64)?;
    check_finite("ks_statistic (first sample)", a)?;
    check_finite("ks_statistic (second sample)", b)?;
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    // Step through the distinct values in increasing order; once one sample is exhausted its
    // distribution function is 1 and the gap can only shrink, so the maximum is already seen.
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    Ok(d)
}

/// Total variation distance between the empirical distributions of two categorical samples:
/// `½ Σ_c |P_a(c) - P_b(c)|`, in `[0, 1]` (0 for identical frequencies, 1 for disjoint
/// supports). Errors when either sample is empty.
///
/// ```
/// use rec_metrics::total_variation_distance;
/// let d = total_variation_distance(&["x", "x", "y", "y"], &["x", "y", "y", "y"])?;
/// assert_eq!(d, 0.25);
/// # Ok::<(), rec_metrics::Error>(())
/// ```
pub fn total_variation_distance<T: Eq + Hash>(a: &[T], b: &[T]) -> Result<f64> {
    check_non_empty("total_variation_distance (first sample)", a.len() as u64)?;
    check_non_empty("total_variation_distance (second sample)", b.len() as u64)?;
    // Categories are summed in order of first appearance, not in hash order, so the same
    // samples give the same bits every time.
    let mut index: HashMap<&T, usize> = HashMap::new();
    let mut counts: Vec<(u64, u64)> = Vec::new();
    for (x, side) in a.iter().map(|x| (x, 0)).chain(b.iter().map(|x| (x, 1))) {
        let i = *index.entry(x).or_insert_with(|| {
            counts.push((0, 0));
            counts.len() - 1
        });
        if side == 0 {
            counts[i].0 += 1;
        } else {
            counts[i].1 += 1;
        }
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let sum: f64 = counts.iter().map(|&(ca, cb)| (ca as f64 / na - cb as f64 / nb).abs()).sum();
    Ok(0.5 * sum)
}

/// Jaccard index `|A ∩ B| / |A ∪ B|` of the sets of elements of `a` and `b` (duplicates and
/// order are ignored). Two empty sets are identical, so their index is 1.
///
/// ```
/// use rec_metrics::jaccard;
/// assert_eq!(jaccard(&["drama", "crime"], &["crime", "comedy", "crime"]), 1.0 / 3.0);
/// assert_eq!(jaccard::<u32>(&[], &[]), 1.0);
/// ```
pub fn jaccard<T: Eq + Hash>(a: &[T], b: &[T]) -> f64 {
    let a: HashSet<&T> = a.iter().collect();
    let b: HashSet<&T> = b.iter().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn total_variation_gives_the_same_bits_every_call() {
        // Many categories with uneven frequencies: summed in hash order, the rounding of
        // the sum changed from one call (one hasher seed) to the next.
        let a: Vec<String> = (0..400).map(|i| format!("c{}", (i * i) % 53)).collect();
        let b: Vec<String> = (0..300).map(|i| format!("c{}", (i * 7 + i / 3) % 61)).collect();
        let first = total_variation_distance(&a, &b).unwrap();
        for _ in 0..50 {
            assert_eq!(total_variation_distance(&a, &b).unwrap().to_bits(), first.to_bits());
        }
    }

    #[test]
    fn ks_by_hand() {
        // F_a jumps to 1 at 1; F_b is 0 until 2: the gap is 1.
        assert_eq!(ks_statistic(&[1.0], &[2.0, 3.0]).unwrap(), 1.0);
        assert_eq!(ks_statistic(&[1.0, 2.0], &[2.0, 1.0]).unwrap(), 0.0);
        // a = {1, 2, 2, 3}, b = {2, 4}: at 1 the gap is 1/4, at 2 it is 3/4 - 1/2, at 3 it is
        // 1 - 1/2 = 1/2.
        assert_eq!(ks_statistic(&[1.0, 2.0, 2.0, 3.0], &[2.0, 4.0]).unwrap(), 0.5);
        // Ties across samples must not create a spurious gap.
        assert_eq!(ks_statistic(&[0.0, 5.0], &[-0.0, 5.0]).unwrap(), 0.0);
    }

    #[test]
    fn ks_rejects_bad_input() {
        assert!(matches!(ks_statistic(&[], &[1.0]), Err(Error::Empty { .. })));
        assert!(matches!(ks_statistic(&[1.0], &[f64::NAN]), Err(Error::NonFinite { .. })));
    }

    #[test]
    fn tvd_by_hand() {
        assert_eq!(total_variation_distance(&[1, 2], &[3, 4]).unwrap(), 1.0);
        assert_eq!(total_variation_distance(&[1, 2], &[2, 1]).unwrap(), 0.0);
        // P_a = (1/3, 2/3, 0), P_b = (0, 1/2, 1/2): ½ (1/3 + 1/6 + 1/2) = 1/2.
        assert!((total_variation_distance(&["a", "b", "b"], &["b", "c"]).unwrap() - 0.5).abs() < 1e-12);
        assert!(matches!(total_variation_distance::<u8>(&[1], &[]), Err(Error::Empty { .. })));
    }

    #[test]
    fn jaccard_by_hand() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[1, 1], &[1]), 1.0);
        assert_eq!(jaccard(&[1], &[]), 0.0);
    }
}
