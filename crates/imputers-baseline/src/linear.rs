//! Small dense linear models for the chained imputer: Bayesian ridge and ridge regression
//! (as scikit-learn's `BayesianRidge` and `Ridge`, with intercept), and L2-penalised logistic
//! regression with softmax or independent sigmoid outputs.

use serde::{Deserialize, Serialize};

use crate::eigen::{largest_eigenvalue, EigenBasis};

/// Centered sufficient statistics of a regression: means, `X'X`, `X'y`, `y'y`.
#[derive(Debug, Clone)]
pub(crate) struct Gram {
    pub(crate) n: usize,
    pub(crate) p: usize,
    pub(crate) x_mean: Vec<f64>,
    pub(crate) y_mean: f64,
    pub(crate) xtx: Vec<f64>,
    pub(crate) xty: Vec<f64>,
    pub(crate) yty: f64,
}

impl Gram {
    /// From `x` (row-major, `y.len()` rows of `p`) and `y`, centered in two passes.
    pub(crate) fn new(x: &[f64], p: usize, y: &[f64]) -> Gram {
        let n = y.len();
        let mut x_mean = vec![0.0; p];
        for row in x.chunks_exact(p.max(1)).take(n) {
            for (m, v) in x_mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        let nf = n.max(1) as f64;
        x_mean.iter_mut().for_each(|m| *m /= nf);
        let y_mean = y.iter().sum::<f64>() / nf;
        let (mut xtx, mut xty, mut yty) = (vec![0.0; p * p], vec![0.0; p], 0.0);
        let mut c = vec![0.0; p];
        for (i, &yi) in y.iter().enumerate() {
            let row = &x[i * p..(i + 1) * p];
            for j in 0..p {
                c[j] = row[j] - x_mean[j];
            }
            let yc = yi - y_mean;
            for j in 0..p {
                let cj = c[j];
                if cj == 0.0 {
                    continue;
                }
                xty[j] += cj * yc;
                let line = &mut xtx[j * p..j * p + j + 1];
                for (l, &ck) in line.iter_mut().zip(&c[..=j]) {
                    *l += cj * ck;
                }
            }
            yty += yc * yc;
        }
        for j in 0..p {
            for k in 0..j {
                xtx[k * p + j] = xtx[j * p + k];
            }
        }
        Gram { n, p, x_mean, y_mean, xtx, xty, yty }
    }
}

/// A fitted linear regression `y = intercept + coef · x`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Linear {
    pub(crate) coef: Vec<f64>,
    pub(crate) intercept: f64,
}

impl Linear {
    pub(crate) fn predict(&self, x: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(x).map(|(c, v)| c * v).sum::<f64>()
    }

    fn from_coef(g: &Gram, coef: Vec<f64>) -> Linear {
        let intercept = g.y_mean - coef.iter().zip(&g.x_mean).map(|(c, m)| c * m).sum::<f64>();
        Linear { coef, intercept }
    }
}

/// Eigen-coordinates of the solution of `(X'X + shrink I) coef = X'y`, from `b = V' X'y`.
fn shrunk(basis: &EigenBasis, b: &[f64], shrink: f64) -> Vec<f64> {
    basis.values.iter().zip(b).map(|(e, bk)| bk / (e + shrink)).collect()
}

/// Ridge regression with intercept (scikit-learn's `Ridge(alpha)`).
pub(crate) fn ridge(g: &Gram, alpha: f64) -> Linear {
    let basis = EigenBasis::new(&g.xtx, g.p);
    let b = basis.project(&g.xty);
    Linear::from_coef(g, basis.expand(&shrunk(&basis, &b, alpha.max(1e-12))))
}

/// Bayesian ridge regression with scikit-learn's defaults (`max_iter=300`, `tol=1e-3`, gamma
/// priors `1e-6`, `alpha_init = 1 / var(y)`, `lambda_init = 1`), computed from the
/// eigendecomposition of `X'X` instead of the SVD of `X` (the same quantities).
///
/// The updates run in the eigenbasis, O(p) each: with `b = V' X'y` and `c = b / (eig +
/// lambda / alpha)` the coefficients' norm is `|c|`, and the residual sum of squares is
/// `y'y - 2 c·b + Σ eig c²`. The stopping rule is scikit-learn's, on the L1 norm of the change
/// of the coefficients in the original basis; the basis is orthonormal, so that norm lies
/// between the change's L2 norm and `√p` times it, and the change is taken back to the
/// original basis (O(p²)) only when those bounds do not decide.
pub(crate) fn bayesian_ridge(g: &Gram) -> Linear {
    const PRIOR: f64 = 1e-6;
    const TOL: f64 = 1e-3;
    let basis = EigenBasis::new(&g.xtx, g.p);
    let b = basis.project(&g.xty);
    let n = g.n as f64;
    let mut alpha = 1.0 / (g.yty / n.max(1.0) + f64::EPSILON);
    let mut lambda = 1.0;
    let mut old: Option<Vec<f64>> = None;
    let sqrt_p = (g.p as f64).sqrt();
    for it in 0..300 {
        let c = shrunk(&basis, &b, lambda / alpha);
        let cb: f64 = c.iter().zip(&b).map(|(ck, bk)| ck * bk).sum();
        let quad: f64 = c.iter().zip(&basis.values).map(|(ck, e)| e * ck * ck).sum();
        let err = (g.yty - 2.0 * cb + quad).max(0.0);
        let gamma: f64 = basis.values.iter().map(|&e| alpha * e / (lambda + alpha * e)).sum();
        lambda = (gamma + 2.0 * PRIOR) / (c.iter().map(|x| x * x).sum::<f64>() + 2.0 * PRIOR);
        alpha = (n - gamma + 2.0 * PRIOR) / (err + 2.0 * PRIOR);
        if let Some(prev) = &old {
            let delta: Vec<f64> = prev.iter().zip(&c).map(|(a, b)| a - b).collect();
            let l2 = delta.iter().map(|x| x * x).sum::<f64>().sqrt();
            // The bounds with a margin for rounding; between them, the exact L1 norm.
            let converged = if l2 * sqrt_p < TOL * (1.0 - 1e-9) {
                true
            } else if l2 >= TOL * (1.0 + 1e-9) {
                false
            } else {
                basis.expand(&delta).iter().map(|x| x.abs()).sum::<f64>() < TOL
            };
            if it != 0 && converged {
                break;
            }
        }
        old = Some(c);
    }
    Linear::from_coef(g, basis.expand(&shrunk(&basis, &b, lambda / alpha)))
}

/// Output link of a [`Logistic`] model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Link {
    /// One class out of `K` (multinomial).
    Softmax,
    /// `K` independent yes/no labels (multi-label).
    Sigmoid,
}

/// L2-penalised logistic regression on standardised inputs, penalty `1 / (2 C n) ||W||^2` on
/// the mean cross-entropy (scikit-learn's `C`), fitted by L-BFGS (as scikit-learn's default
/// solver) until no gradient entry exceeds 1e-4 or after [`MAX_EVALUATIONS`] evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Logistic {
    link: Link,
    p: usize,
    k: usize,
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Row-major `(p + 1) × k`; the last row is the intercept.
    w: Vec<f64>,
    /// Whether the fit spent its budget of evaluations before the gradient met the tolerance.
    #[serde(default)]
    pub(crate) stopped_at_cap: bool,
}

impl Logistic {
    /// Fits on `x` (row-major, `n × p`) with targets `y` (row-major `n × k`, one-hot for
    /// softmax, 0/1 for sigmoid) and inverse penalty `c`, starting from `warm` when it has the
    /// same shape, with at most `budget` evaluations of the objective ([`MAX_EVALUATIONS`] in
    /// the imputer).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fit(
        x: &[f64],
        p: usize,
        y: &[f64],
        k: usize,
        link: Link,
        c: f64,
        warm: Option<&Logistic>,
        budget: usize,
    ) -> Logistic {
        let n = y.len().checked_div(k).unwrap_or(0);
        let mut mean = vec![0.0; p];
        let mut scale = vec![0.0; p];
        for j in 0..p {
            let col: Vec<f64> = (0..n).map(|i| x[i * p + j]).collect();
            let (m, s) = crate::common::mean_std(&col);
            mean[j] = m;
            scale[j] = s;
        }
        let mut model = Logistic { link, p, k, mean, scale, w: vec![0.0; (p + 1) * k], stopped_at_cap: false };
        if let Some(w) = warm.filter(|w| w.p == p && w.k == k && w.link == link) {
            model.w.copy_from_slice(&w.w);
        }
        if n == 0 || k == 0 {
            return model;
        }
        let rows = SparseRows::new(x, n, p);
        // Lipschitz bound of the gradient: curvature <= 1/2 * lambda_max([z 1]'[z 1] / n), with
        // z'z / n = (x'x / n - m m') / (s s') from the sparse rows; z sums to 0 by column, so
        // the intercept's row and column are (0, ..., 0, 1).
        let q = p + 1;
        let mut gram = vec![0.0; q * q];
        for i in 0..n {
            let row = rows.row(i);
            for &(a, xa) in row {
                for &(b, xb) in row {
                    gram[a * q + b] += xa * xb;
                }
            }
        }
        for a in 0..p {
            for b in 0..p {
                gram[a * q + b] =
                    (gram[a * q + b] / n as f64 - model.mean[a] * model.mean[b]) / (model.scale[a] * model.scale[b]);
            }
        }
        gram[p * q + p] = 1.0;
        let lmax = largest_eigenvalue(&gram, q);
        let reg = 1.0 / (c * n as f64);
        let step = 1.0 / (0.5 * lmax + reg);
        let objective = |w: &[f64]| penalised(&rows, y, &model.mean, &model.scale, link, reg, w);
        let (w, converged) = lbfgs(model.w.clone(), step, budget, objective);
        model.w = w;
        model.stopped_at_cap = !converged;
        model
    }

    /// Class (softmax) or label (sigmoid) probabilities of one raw row.
    pub(crate) fn predict(&self, x: &[f64], out: &mut [f64]) {
        let z: Vec<f64> = x.iter().zip(self.mean.iter().zip(&self.scale)).map(|(v, (m, s))| (v - m) / s).collect();
        forward(&self.w, &z, self.k, self.link, out);
    }
}

/// The non-zero entries of each row of a row-major `n × p` matrix: what is left of a design
/// whose one-hot blocks hold one entry per observed label (a few for a soft, imputed one).
struct SparseRows {
    /// Row `i` is `entries[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    entries: Vec<(usize, f64)>,
}

impl SparseRows {
    fn new(x: &[f64], n: usize, p: usize) -> SparseRows {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut entries = Vec::new();
        for i in 0..n {
            entries.extend(x[i * p..(i + 1) * p].iter().enumerate().filter(|(_, v)| **v != 0.0).map(|(j, v)| (j, *v)));
            offsets.push(entries.len());
        }
        SparseRows { offsets, entries }
    }

    fn row(&self, i: usize) -> &[(usize, f64)] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// The mean cross-entropy at `w` and its gradient (without the penalty) for the standardised
/// inputs `z = (x - mean) / scale`. The standardisation is folded into the weights
/// (`z · w = x · (w / s) - m · (w / s)`, and likewise for the gradient), so a step costs the
/// non-zeros of `x` times `k`, not `n p k`: a one-hot block of hundreds of labels adds one
/// entry per row, not hundreds.
///
/// The rows are summed in up to [`GRADIENT_PARTS`] contiguous parts of at least
/// [`GRADIENT_PART_ROWS`] rows, in parallel, and the parts' sums are added in order: the parts
/// depend on `n` alone, so the gradient (and the imputer) does not depend on the number of
/// threads, and a table of a thousand rows keeps two cores busy.
fn objective(rows: &SparseRows, y: &[f64], mean: &[f64], scale: &[f64], link: Link, w: &[f64]) -> (f64, Vec<f64>) {
    use rayon::prelude::*;
    let p = mean.len();
    let k = w.len() / (p + 1);
    let n = y.len() / k;
    let ws: Vec<f64> = (0..p * k).map(|i| w[i] / scale[i / k]).collect();
    let offset: Vec<f64> =
        (0..k).map(|c| w[p * k + c] - (0..p).map(|j| mean[j] * ws[j * k + c]).sum::<f64>()).collect();
    let parts = n.div_ceil(GRADIENT_PART_ROWS).clamp(1, GRADIENT_PARTS);
    let size = n.div_ceil(parts).max(1);
    let sums: Vec<(Vec<f64>, Vec<f64>, f64)> = (0..parts)
        .into_par_iter()
        .map(|part| {
            let mut acc = vec![0.0; p * k];
            let mut rsum = vec![0.0; k];
            let mut probs = vec![0.0; k];
            let mut loss = 0.0;
            for i in part * size..((part + 1) * size).min(n) {
                probs.copy_from_slice(&offset);
                let row = rows.row(i);
                for &(j, v) in row {
                    for (o, wv) in probs.iter_mut().zip(&ws[j * k..(j + 1) * k]) {
                        *o += v * wv;
                    }
                }
                loss += activate_with_loss(link, &mut probs, &y[i * k..(i + 1) * k]);
                for (r, t) in probs.iter_mut().zip(&y[i * k..(i + 1) * k]) {
                    *r -= t;
                }
                for &(j, v) in row {
                    for (a, r) in acc[j * k..(j + 1) * k].iter_mut().zip(&probs) {
                        *a += v * r;
                    }
                }
                rsum.iter_mut().zip(&probs).for_each(|(s, r)| *s += r);
            }
            (acc, rsum, loss)
        })
        .collect();
    let (acc, rsum, loss) = sums
        .into_iter()
        .reduce(|(mut a, mut r, l), (b, s, m)| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            r.iter_mut().zip(&s).for_each(|(r, s)| *r += s);
            (a, r, l + m)
        })
        .unwrap_or_else(|| (vec![0.0; p * k], vec![0.0; k], 0.0));
    let mut grad = vec![0.0; (p + 1) * k];
    for j in 0..p {
        for c in 0..k {
            grad[j * k + c] = (acc[j * k + c] - mean[j] * rsum[c]) / scale[j] / n as f64;
        }
    }
    for c in 0..k {
        grad[p * k + c] = rsum[c] / n as f64;
    }
    (loss / n as f64, grad)
}

/// [`objective`] plus the penalty `reg / 2 ||W||^2` on the weights (not the intercepts): what a
/// logistic fit minimises.
fn penalised(
    rows: &SparseRows,
    y: &[f64],
    mean: &[f64],
    scale: &[f64],
    link: Link,
    reg: f64,
    w: &[f64],
) -> (f64, Vec<f64>) {
    let weights = mean.len() * (w.len() / (mean.len() + 1));
    let (loss, mut grad) = objective(rows, y, mean, scale, link, w);
    let penalty: f64 = w[..weights].iter().map(|v| v * v).sum::<f64>() * reg / 2.0;
    grad[..weights].iter_mut().zip(&w[..weights]).for_each(|(g, v)| *g += reg * v);
    (loss + penalty, grad)
}

/// Most evaluations of the objective (each a pass over the rows) a logistic fit makes.
pub(crate) const MAX_EVALUATIONS: usize = 100;
/// Correction pairs L-BFGS keeps.
const LBFGS_MEMORY: usize = 10;

/// Minimises a smooth convex `f` (value and gradient) from `w` by L-BFGS with a backtracking
/// (Armijo) line search, until no gradient entry exceeds 1e-4 or `budget` evaluations are
/// spent; returns the point and whether the gradient met the tolerance. `step`
/// (at most 1 / the gradient's Lipschitz constant) scales the first direction, and any
/// direction that does not descend.
fn lbfgs(mut w: Vec<f64>, step: f64, budget: usize, mut f: impl FnMut(&[f64]) -> (f64, Vec<f64>)) -> (Vec<f64>, bool) {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let converged = |g: &[f64]| g.iter().all(|v| v.abs() < 1e-4);
    let (mut value, mut grad) = f(&w);
    let mut evaluations = 1;
    // (s, y, 1 / s'y) of the latest steps, oldest first.
    let mut pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = std::collections::VecDeque::new();
    while !converged(&grad) && evaluations < budget {
        // The two-loop recursion: d = -H g.
        let mut d = grad.clone();
        let mut alphas = Vec::with_capacity(pairs.len());
        for (s, y, rho) in pairs.iter().rev() {
            let a = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(d, y)| *d -= a * y);
            alphas.push(a);
        }
        let gamma = pairs.back().map_or(step, |(s, y, _)| dot(s, y) / dot(y, y));
        d.iter_mut().for_each(|d| *d *= -gamma);
        for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &d);
            d.iter_mut().zip(s).for_each(|(d, s)| *d -= (a + b) * s);
        }
        let mut slope = dot(&grad, &d);
        // Not a descent direction (or NaN): start again from the scaled gradient.
        if slope >= 0.0 || slope.is_nan() {
            pairs.clear();
            d = grad.iter().map(|g| -step * g).collect();
            slope = dot(&grad, &d);
        }
        let mut t = 1.0;
        let accepted = loop {
            let trial: Vec<f64> = w.iter().zip(&d).map(|(w, d)| w + t * d).collect();
            let (v, g) = f(&trial);
            evaluations += 1;
            if v <= value + 1e-4 * t * slope {
                break Some((trial, v, g));
            }
            if evaluations >= budget {
                break None;
            }
            // The minimum of the quadratic through value, slope and v, kept within [t/10, t/2].
            let q = -slope * t * t / (2.0 * (v - value - slope * t));
            t = if q.is_finite() { q.clamp(0.1 * t, 0.5 * t) } else { 0.5 * t };
        };
        let Some((next, v, g)) = accepted else { break };
        let s: Vec<f64> = next.iter().zip(&w).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if pairs.len() == LBFGS_MEMORY {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / sy));
        }
        (w, value, grad) = (next, v, g);
    }
    let converged = converged(&grad);
    (w, converged)
}

/// Most parts the logistic gradient's rows are summed in (see [`objective`]).
const GRADIENT_PARTS: usize = 8;
/// Fewest rows of a part of the logistic gradient.
const GRADIENT_PART_ROWS: usize = 128;

fn forward(w: &[f64], z: &[f64], k: usize, link: Link, out: &mut [f64]) {
    let p = z.len();
    for c in 0..k {
        out[c] = w[p * k + c] + (0..p).map(|j| w[j * k + c] * z[j]).sum::<f64>();
    }
    activate(link, out);
}

/// Turns scores into probabilities as [`activate`] does and returns the cross-entropy of
/// `target` (one-hot or soft classes for softmax, 0/1 or soft labels for sigmoid), computed from
/// the scores so that it stays finite however confident the model.
fn activate_with_loss(link: Link, out: &mut [f64], target: &[f64]) -> f64 {
    match link {
        Link::Softmax => {
            let m = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (mut mass, mut dot) = (0.0, 0.0);
            for (o, t) in out.iter().zip(target) {
                mass += t;
                dot += t * o;
            }
            let mut total = 0.0;
            for o in out.iter_mut() {
                *o = (*o - m).exp();
                total += *o;
            }
            out.iter_mut().for_each(|o| *o /= total);
            mass * (m + total.ln()) - dot
        }
        Link::Sigmoid => {
            // -t ln s(o) - (1 - t) ln(1 - s(o)) = softplus(o) - t o.
            let loss = out.iter().zip(target).map(|(o, t)| o.max(0.0) + (-o.abs()).exp().ln_1p() - t * o).sum();
            activate(link, out);
            loss
        }
    }
}

/// Turns scores into class (softmax) or label (sigmoid) probabilities, in place.
fn activate(link: Link, out: &mut [f64]) {
    match link {
        Link::Softmax => {
            let m = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for o in out.iter_mut() {
                *o = (*o - m).exp();
                total += *o;
            }
            out.iter_mut().for_each(|o| *o /= total);
        }
        Link::Sigmoid => out.iter_mut().for_each(|o| *o = 1.0 / (1.0 + (-*o).exp())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bayesian ridge as it was computed before the eigenbasis updates: coefficients, residuals
    /// and the stopping rule's L1 norm all from the dense eigenvectors and `X'X`.
    fn dense_bayesian_ridge(g: &Gram) -> Linear {
        let (eig, v) = crate::eigen::tests::sym_eigen(&g.xtx, g.p);
        let p = g.p;
        let solve = |shrink: f64| -> Vec<f64> {
            let proj: Vec<f64> =
                (0..p).map(|k| (0..p).map(|j| v[j * p + k] * g.xty[j]).sum::<f64>() / (eig[k] + shrink)).collect();
            (0..p).map(|j| (0..p).map(|k| v[j * p + k] * proj[k]).sum()).collect()
        };
        let n = g.n as f64;
        let (mut alpha, mut lambda) = (1.0 / (g.yty / n.max(1.0) + f64::EPSILON), 1.0);
        let mut old: Option<Vec<f64>> = None;
        for it in 0..300 {
            let coef = solve(lambda / alpha);
            let xty: f64 = coef.iter().zip(&g.xty).map(|(c, b)| c * b).sum();
            let quad: f64 = (0..p).map(|j| coef[j] * (0..p).map(|k| g.xtx[j * p + k] * coef[k]).sum::<f64>()).sum();
            let err = (g.yty - 2.0 * xty + quad).max(0.0);
            let gamma: f64 = eig.iter().map(|&e| alpha * e / (lambda + alpha * e)).sum();
            lambda = (gamma + 2e-6) / (coef.iter().map(|c| c * c).sum::<f64>() + 2e-6);
            alpha = (n - gamma + 2e-6) / (err + 2e-6);
            if let Some(prev) = &old {
                if it != 0 && prev.iter().zip(&coef).map(|(a, b)| (a - b).abs()).sum::<f64>() < 1e-3 {
                    break;
                }
            }
            old = Some(coef);
        }
        Linear::from_coef(g, solve(lambda / alpha))
    }

    #[test]
    fn bayesian_ridge_in_the_eigenbasis_is_the_dense_one() {
        // Numeric columns, a one-hot block of many labels (as the chained imputers build) and,
        // in the last case, more columns than rows.
        for (n, labels, noise) in [(200, 3, 0.1), (300, 40, 1.0), (150, 80, 0.5), (30, 45, 0.2)] {
            let p = 2 + labels;
            let mut x = vec![0.0; n * p];
            let mut y = vec![0.0; n];
            for i in 0..n {
                let (a, b) = ((i as f64 * 0.31).sin(), (i as f64 * 0.17).cos());
                let label = (i * 7 + i / 3) % labels;
                x[i * p] = a;
                x[i * p + 1] = b;
                x[i * p + 2 + label] = 1.0;
                y[i] = 3.0 * a - b + 0.05 * label as f64 + noise * (i as f64 * 1.7).sin();
            }
            let g = Gram::new(&x, p, &y);
            let (fast, dense) = (bayesian_ridge(&g), dense_bayesian_ridge(&g));
            for (j, (f, d)) in fast.coef.iter().zip(&dense.coef).enumerate() {
                assert!((f - d).abs() < 1e-9 * (1.0 + d.abs()), "n {n}, p {p}: coef {j}: {f} vs {d}");
            }
            assert!((fast.intercept - dense.intercept).abs() < 1e-9 * (1.0 + dense.intercept.abs()));
        }
    }

    #[test]
    fn ridge_recovers_a_line() {
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 + 2.0 * v).collect();
        let m = ridge(&Gram::new(&x, 1, &y), 1e-9);
        assert!((m.coef[0] - 2.0).abs() < 1e-8 && (m.intercept - 3.0).abs() < 1e-6);
        let b = bayesian_ridge(&Gram::new(&x, 1, &y));
        assert!((b.predict(&[10.0]) - 23.0).abs() < 1e-3);
    }

    #[test]
    fn the_sparse_gradient_is_the_dense_one() {
        // 30 rows: one part; 700: six parts summed in order.
        for n in [30, 700] {
            let (x, y, w, mean, scale) = gradient_problem(n);
            let (p, k) = (6, 3);
            let (loss, sparse) = objective(&SparseRows::new(&x, n, p), &y, &mean, &scale, Link::Softmax, &w);
            let mut dense = vec![0.0; (p + 1) * k];
            let mut dense_loss = 0.0;
            let mut probs = vec![0.0; k];
            for i in 0..n {
                let z: Vec<f64> = (0..p).map(|j| (x[i * p + j] - mean[j]) / scale[j]).collect();
                forward(&w, &z, k, Link::Softmax, &mut probs);
                for c in 0..k {
                    dense_loss -= y[i * k + c] * probs[c].ln() / n as f64;
                    let r = probs[c] - y[i * k + c];
                    for j in 0..p {
                        dense[j * k + c] += r * z[j] / n as f64;
                    }
                    dense[p * k + c] += r / n as f64;
                }
            }
            for (a, b) in sparse.iter().zip(&dense) {
                assert!((a - b).abs() < 1e-12, "{n} rows\n{sparse:?}\n{dense:?}");
            }
            assert!((loss - dense_loss).abs() < 1e-12, "{n} rows: loss {loss} vs {dense_loss}");
        }
    }

    /// Two numeric columns (one with a large mean), a one-hot block of 4 with a soft row; three
    /// classes; weights; the columns' means and standard deviations.
    #[allow(clippy::type_complexity)]
    fn gradient_problem(n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (p, k) = (6, 3);
        let mut x = vec![0.0; n * p];
        for i in 0..n {
            x[i * p] = 1990.0 + (i * 7 % 13) as f64;
            x[i * p + 1] = if i % 5 == 0 { 0.0 } else { (i as f64 * 0.37).sin() };
            x[i * p + 2 + i % 4] = 1.0;
        }
        x[3 * p + 2..3 * p + 6].copy_from_slice(&[0.1, 0.2, 0.3, 0.4]);
        let y: Vec<f64> = (0..n * k).map(|i| f64::from(i % k == (i / k) % k)).collect();
        let w: Vec<f64> = (0..(p + 1) * k).map(|i| ((i * 31 % 17) as f64 - 8.0) / 10.0).collect();
        let (mut mean, mut scale) = (vec![0.0; p], vec![0.0; p]);
        for j in 0..p {
            let col: Vec<f64> = (0..n).map(|i| x[i * p + j]).collect();
            (mean[j], scale[j]) = crate::common::mean_std(&col);
        }
        (x, y, w, mean, scale)
    }

    #[test]
    fn the_gradient_does_not_depend_on_the_threads() {
        let n = 9000;
        let (x, y, w, mean, scale) = gradient_problem(n);
        let rows = SparseRows::new(&x, n, 6);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| objective(&rows, &y, &mean, &scale, Link::Softmax, &w).1)
        };
        let one: Vec<u64> = on(1).iter().map(|g| g.to_bits()).collect();
        for threads in [2, 3, 8] {
            let many: Vec<u64> = on(threads).iter().map(|g| g.to_bits()).collect();
            assert_eq!(many, one, "{threads} threads");
        }
    }

    #[test]
    fn the_sigmoid_loss_is_the_cross_entropy_even_when_saturated() {
        for (score, t) in [(0.3, 1.0), (-2.0, 0.0), (1.5, 0.25), (-800.0, 1.0), (800.0, 0.0)] {
            let mut out = [score];
            let loss = activate_with_loss(Link::Sigmoid, &mut out, &[t]);
            let p = 1.0 / (1.0 + f64::exp(-score));
            let expected = if score.abs() < 30.0 { -t * p.ln() - (1.0 - t) * (1.0 - p).ln() } else { score.abs() };
            assert!((loss - expected).abs() < 1e-12 && loss.is_finite(), "{score}: {loss} vs {expected}");
            assert_eq!(out[0], p);
        }
    }

    /// Plain gradient descent with the safe step, run far longer than any fit: the reference
    /// optimum.
    fn descend(rows: &SparseRows, y: &[f64], mean: &[f64], scale: &[f64], reg: f64, k: usize) -> Vec<f64> {
        let p = mean.len();
        let mut w = vec![0.0; (p + 1) * k];
        for _ in 0..20_000 {
            let (_, g) = penalised(rows, y, mean, scale, Link::Softmax, reg, &w);
            w.iter_mut().zip(&g).for_each(|(w, g)| *w -= 0.5 * g);
        }
        w
    }

    #[test]
    fn lbfgs_reaches_the_optimum_within_its_budget() {
        let n = 300;
        let (x, y, _, mean, scale) = gradient_problem(n);
        let (p, k) = (6, 3);
        let c = 0.5;
        let model = Logistic::fit(&x, p, &y, k, Link::Softmax, c, None, MAX_EVALUATIONS);
        let rows = SparseRows::new(&x, n, p);
        let reg = 1.0 / (c * n as f64);
        let (_, g) = penalised(&rows, &y, &mean, &scale, Link::Softmax, reg, &model.w);
        assert!(g.iter().all(|v| v.abs() < 1e-4), "not converged: {g:?}");
        assert!(!model.stopped_at_cap);
        let reference = descend(&rows, &y, &mean, &scale, reg, k);
        for (a, b) in model.w.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-3, "{:?}\n{reference:?}", model.w);
        }
        // Two evaluations are not enough, and the model says so.
        let short = Logistic::fit(&x, p, &y, k, Link::Softmax, c, None, 2);
        assert!(short.stopped_at_cap);
        // Started at the optimum, it stops at once.
        let again = Logistic::fit(&x, p, &y, k, Link::Softmax, c, Some(&model), MAX_EVALUATIONS);
        assert_eq!(again.w, model.w);
    }

    #[test]
    fn logistic_separates() {
        let x: Vec<f64> = (0..40).map(|i| i as f64).collect();
        let y: Vec<f64> = (0..40).flat_map(|i| if i < 20 { [1.0, 0.0] } else { [0.0, 1.0] }).collect();
        let m = Logistic::fit(&x, 1, &y, 2, Link::Softmax, 1.0, None, MAX_EVALUATIONS);
        let mut out = [0.0; 2];
        m.predict(&[2.0], &mut out);
        assert!(out[0] > 0.8);
        m.predict(&[37.0], &mut out);
        assert!(out[1] > 0.8);
    }
}
