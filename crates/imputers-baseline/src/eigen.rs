//! Symmetric eigenproblems of the linear models: the decomposition of `X'X` (ridge and
//! Bayesian ridge) by Householder reduction to a tridiagonal matrix and implicit QL steps, and
//! the largest eigenvalue alone (the logistic model's step size) by power iteration.
//!
//! The decomposition costs about 10 p³ flops where cyclic Jacobi sweeps cost 3 p³ each (and
//! took 8-10 of them); that difference is what a one-hot block of hundreds of labels in the
//! design matrix made visible. The regressions need the eigenvectors only to move a few
//! vectors into the eigenbasis and back, so [`EigenBasis`] keeps the QL steps' rotations
//! themselves and applies them to those vectors, O(p²) each, instead of rotating a p × p
//! eigenvector matrix; what is left is mostly the Householder reduction, whose loops run down
//! contiguous columns.

/// The eigendecomposition `A = V diag(values) V'` of a symmetric matrix, with `V` kept as the
/// Householder reduction `Q` and the list of plane rotations `Z` of the QL steps (`V = Q Z`).
#[derive(Debug, Clone)]
pub(crate) struct EigenBasis {
    /// Eigenvalues, clamped at 0 (the matrices here are Gram matrices), in no particular order.
    pub(crate) values: Vec<f64>,
    p: usize,
    /// `Q'`, row-major: row `i` is column `i` of `Q`.
    qt: Vec<f64>,
    /// The QL steps' rotations in the order applied: `(i, c, s)` mixes coordinates `i` and
    /// `i + 1` as `(c x_i - s x_{i+1}, s x_i + c x_{i+1})`.
    rotations: Vec<(usize, f64, f64)>,
}

impl EigenBasis {
    /// Decomposes the symmetric row-major `p × p` matrix `a`.
    pub(crate) fn new(a: &[f64], p: usize) -> EigenBasis {
        if p == 0 {
            return EigenBasis { values: Vec::new(), p, qt: Vec::new(), rotations: Vec::new() };
        }
        let (mut d, mut e, qt) = tridiagonalize(a, p);
        let mut rotations = Vec::new();
        ql_implicit(&mut d, &mut e, p, |i, c, s| rotations.push((i, c, s)));
        EigenBasis { values: d.into_iter().map(|x| x.max(0.0)).collect(), p, qt, rotations }
    }

    /// `V' x`: the coordinates of `x` along the eigenvectors (entry `k` belongs to `values[k]`).
    pub(crate) fn project(&self, x: &[f64]) -> Vec<f64> {
        let p = self.p;
        let mut y: Vec<f64> =
            (0..p).map(|i| self.qt[i * p..(i + 1) * p].iter().zip(x).map(|(q, v)| q * v).sum()).collect();
        for &(i, c, s) in &self.rotations {
            let (a, b) = (y[i], y[i + 1]);
            y[i] = c * a - s * b;
            y[i + 1] = s * a + c * b;
        }
        y
    }

    /// `V y`: the vector whose eigen-coordinates are `y`.
    pub(crate) fn expand(&self, y: &[f64]) -> Vec<f64> {
        let p = self.p;
        let mut z = y.to_vec();
        for &(i, c, s) in self.rotations.iter().rev() {
            let (a, b) = (z[i], z[i + 1]);
            z[i] = c * a + s * b;
            z[i + 1] = -s * a + c * b;
        }
        let mut x = vec![0.0; p];
        for (i, &zi) in z.iter().enumerate() {
            for (xk, q) in x.iter_mut().zip(&self.qt[i * p..(i + 1) * p]) {
                *xk += q * zi;
            }
        }
        x
    }
}

/// Householder reduction of symmetric `a` to tridiagonal form `T = Q' A Q`. Returns the
/// diagonal `d`, the sub-diagonal `e` (`e[i]` couples `i - 1` and `i`; `e[0] = 0`) and `Q'`
/// (row-major: row `i` is column `i` of `Q`). `a` must be exactly symmetric.
fn tridiagonalize(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    // `w` holds the matrix being reduced, then the accumulated transformation, stored by
    // columns (`a` is symmetric, so its rows are its columns): the O(n³) loops below walk down
    // columns, which are then contiguous in memory.
    let mut w = a.to_vec();
    let at = |i: usize, j: usize| j * n + i;
    let mut d: Vec<f64> = (0..n).map(|j| w[at(n - 1, j)]).collect();
    let mut e = vec![0.0; n];
    for i in (1..n).rev() {
        // Reduce row i: a reflection that zeroes its entries left of i - 1.
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = w[at(i - 1, j)];
                w[at(i, j)] = 0.0;
                w[at(j, i)] = 0.0;
            }
        } else {
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].fill(0.0);
            // e = A u (lower triangle of w holds A), the reflection vector u stored in row i.
            for j in 0..i {
                let f = d[j];
                w[at(j, i)] = f;
                // Column j's rows j..i, as a slice: no index checks in the loop below.
                let col = &w[at(j, j)..at(i, j)];
                let mut g = e[j] + col[0] * f;
                for ((wk, dk), ek) in col[1..].iter().zip(&d[j + 1..i]).zip(&mut e[j + 1..i]) {
                    g += wk * dk;
                    *ek += wk * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            // A -= u q' + q u'.
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for ((wk, ek), dk) in w[at(j, j)..at(i, j)].iter_mut().zip(&e[j..i]).zip(&d[j..i]) {
                    *wk -= f * ek + g * dk;
                }
                d[j] = w[at(i - 1, j)];
                w[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    // Q stored by columns is Q' stored by rows: `w` is the `Q'` the caller wants.
    accumulate_reflections(&mut w, &mut d, n);
    e[0] = 0.0;
    (d, e, w)
}

/// Turns the reflections that [`tridiagonalize`] stored in `w`, with their scales in `d`, into
/// `Q` in place; `d` ends up holding the tridiagonal matrix's diagonal. `w` is stored by
/// columns, as in [`tridiagonalize`].
fn accumulate_reflections(w: &mut [f64], d: &mut [f64], n: usize) {
    let at = |i: usize, j: usize| j * n + i;
    for i in 0..n - 1 {
        w[at(n - 1, i)] = w[at(i, i)];
        w[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = w[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                // Rows 0..=i of columns i + 1 and j, as slices.
                let (left, right) = w.split_at_mut(at(0, i + 1));
                let (col_next, col_j) = (&right[..=i], &mut left[at(0, j)..=at(i, j)]);
                let g: f64 = col_next.iter().zip(col_j.iter()).map(|(a, b)| a * b).sum();
                for (wk, dk) in col_j.iter_mut().zip(&d[..=i]) {
                    *wk -= g * dk;
                }
            }
        }
        for k in 0..=i {
            w[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = w[at(n - 1, j)];
        w[at(n - 1, j)] = 0.0;
    }
    w[at(n - 1, n - 1)] = 1.0;
}

/// Diagonalises the symmetric tridiagonal matrix `(d, e)` by implicit QL steps with Wilkinson
/// shifts, handing every rotation to `rotate` (see [`EigenBasis::rotations`]); `d` ends as the
/// eigenvalues.
fn ql_implicit(d: &mut [f64], e: &mut [f64], n: usize, mut rotate: impl FnMut(usize, f64, f64)) {
    // Sub-diagonal shifted so that e[i] couples i and i + 1.
    e.copy_within(1..n, 0);
    e[n - 1] = 0.0;
    let (mut shift_sum, mut norm) = (0.0f64, 0.0f64);
    let eps = f64::EPSILON;
    for l in 0..n {
        norm = norm.max(d[l].abs() + e[l].abs());
        // The first negligible coupling at or after l ends the unreduced block.
        let m = (l..n).find(|&m| e[m].abs() <= eps * norm).unwrap_or(n - 1);
        if m > l {
            for _ in 0..64 {
                // Wilkinson-style shift from the leading 2 × 2 block.
                let g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for x in &mut d[l + 2..n] {
                    *x -= h;
                }
                shift_sum += h;
                // Chase the bulge from m - 1 up to l.
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0f64, 1.0f64, 1.0f64);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0f64, 0.0f64);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    rotate(i, c, s);
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * norm {
                    break;
                }
            }
        }
        d[l] += shift_sum;
        e[l] = 0.0;
    }
}

/// The largest eigenvalue of a symmetric positive semi-definite `p × p` matrix (row-major), by
/// power iteration until the Rayleigh quotient settles to 1e-13 relative (at most 2,000
/// steps): O(p²) a step.
pub(crate) fn largest_eigenvalue(a: &[f64], p: usize) -> f64 {
    if p == 0 {
        return 0.0;
    }
    // A fixed, uneven start: not orthogonal to the top eigenvector of any matrix met here.
    let mut v: Vec<f64> = (0..p).map(|i| 1.0 + (i as f64 * 0.618_033_988_7).fract()).collect();
    let mut lambda = 0.0f64;
    let mut next = vec![0.0; p];
    for _ in 0..2000 {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        v.iter_mut().for_each(|x| *x /= norm);
        for (i, out) in next.iter_mut().enumerate() {
            *out = a[i * p..(i + 1) * p].iter().zip(&v).map(|(x, y)| x * y).sum();
        }
        let rayleigh: f64 = next.iter().zip(&v).map(|(x, y)| x * y).sum();
        std::mem::swap(&mut v, &mut next);
        if (rayleigh - lambda).abs() <= 1e-13 * rayleigh.abs() {
            return rayleigh;
        }
        lambda = rayleigh;
    }
    lambda
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Eigenvalues and eigenvectors (columns of the row-major `p × p` result), the vectors
    /// built one by one by [`EigenBasis::expand`]; used by the linear models' tests too.
    pub(crate) fn sym_eigen(a: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
        let basis = EigenBasis::new(a, p);
        let mut v = vec![0.0; p * p];
        let mut unit = vec![0.0; p];
        for k in 0..p {
            unit[k] = 1.0;
            for (j, x) in basis.expand(&unit).into_iter().enumerate() {
                v[j * p + k] = x;
            }
            unit[k] = 0.0;
        }
        (basis.values, v)
    }

    #[test]
    fn coordinates_go_to_the_eigenbasis_and_back() {
        for (n, p) in [(20, 3), (60, 17), (30, 40)] {
            let a = gram(n, p);
            let basis = EigenBasis::new(&a, p);
            let (_, v) = sym_eigen(&a, p);
            let x: Vec<f64> = (0..p).map(|i| (i as f64 * 0.37).sin() + 0.1).collect();
            let y = basis.project(&x);
            for k in 0..p {
                let dense: f64 = (0..p).map(|j| v[j * p + k] * x[j]).sum();
                assert!((y[k] - dense).abs() < 1e-12, "p {p}: coordinate {k}: {} vs {dense}", y[k]);
            }
            let back = basis.expand(&y);
            for (j, (b, x)) in back.iter().zip(&x).enumerate() {
                assert!((b - x).abs() < 1e-12, "p {p}: entry {j}: {b} vs {x}");
            }
        }
    }

    /// A Gram matrix `X'X / n` of uneven, partly collinear and partly one-hot columns, as the
    /// chained imputers build.
    fn gram(n: usize, p: usize) -> Vec<f64> {
        let x: Vec<f64> = (0..n * p)
            .map(|i| {
                let (r, c) = (i / p, i % p);
                match c % 4 {
                    0 => ((i * 37 % 101) as f64 / 17.0).sin() * (1 + c) as f64,
                    1 => f64::from(r % 3 == c % 3),
                    2 => ((r * 7 + c) % 5) as f64,
                    _ => (r as f64 * 0.1).cos() + 0.5 * ((i * 37 % 101) as f64 / 17.0).sin(),
                }
            })
            .collect();
        let mut g = vec![0.0; p * p];
        for r in 0..n {
            for a in 0..p {
                for b in 0..p {
                    g[a * p + b] += x[r * p + a] * x[r * p + b] / n as f64;
                }
            }
        }
        g
    }

    #[test]
    fn the_decomposition_reconstructs_and_is_orthonormal() {
        for (n, p) in [(3, 1), (20, 3), (60, 17), (30, 40)] {
            let a = gram(n, p);
            let (e, v) = sym_eigen(&a, p);
            let scale = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            for i in 0..p {
                for j in 0..p {
                    let r: f64 = (0..p).map(|k| v[i * p + k] * e[k] * v[j * p + k]).sum();
                    assert!((r - a[i * p + j]).abs() < 1e-10 * scale, "p {p}: ({i}, {j}) {r} vs {}", a[i * p + j]);
                    let dot: f64 = (0..p).map(|k| v[k * p + i] * v[k * p + j]).sum();
                    assert!((dot - f64::from(i == j)).abs() < 1e-10, "p {p}: columns {i}, {j}: {dot}");
                }
            }
            // p = 40 > n = 30: a rank-deficient Gram matrix has (clamped) zero eigenvalues.
            assert!(e.iter().all(|&x| x >= 0.0));
        }
        let (e, _) = sym_eigen(&[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0], 3);
        let trace: f64 = e.iter().sum();
        assert!((trace - 8.0).abs() < 1e-12, "{trace}");
        assert_eq!(sym_eigen(&[], 0), (vec![], vec![]));
    }

    #[test]
    fn power_iteration_finds_the_largest_eigenvalue() {
        let (n, p) = (60, 7);
        let g = gram(n, p);
        let exact = sym_eigen(&g, p).0.into_iter().fold(0.0f64, f64::max);
        let fast = largest_eigenvalue(&g, p);
        assert!((fast - exact).abs() <= 1e-9 * exact, "{fast} vs {exact}");
        assert_eq!(largest_eigenvalue(&[0.0; 4], 2), 0.0);
    }
}
