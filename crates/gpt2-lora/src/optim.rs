//! AdamW and learning-rate schedules, written out so their state can be checkpointed exactly
//! (libtorch's optimizer state is not reachable through `tch`).

use tch::Tensor;

use crate::error::{Error, Result};

pub use llm_config::Schedule;

/// AdamW with decoupled weight decay, as `torch.optim.AdamW` computes it.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
    /// Coefficients for the running averages of the gradient and its square.
    pub betas: (f64, f64),
    /// Term added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl AdamW {
    /// An optimizer over named parameters (which must require gradients).
    pub fn new(params: Vec<(String, Tensor)>, betas: (f64, f64), eps: f64, weight_decay: f64) -> Result<Self> {
        if params.is_empty() {
            return Err(Error::invalid("no parameters to optimise"));
        }
        if let Some((name, _)) = params.iter().find(|(_, p)| !p.requires_grad()) {
            return Err(Error::invalid(format!("parameter `{name}` does not require gradients")));
        }
        let m = params.iter().map(|(_, p)| p.f_zeros_like()).collect::<std::result::Result<Vec<_>, _>>()?;
        let v = params.iter().map(|(_, p)| p.f_zeros_like()).collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self { params, m, v, step: 0, betas, eps, weight_decay })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The parameters.
    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Multiplies every gradient by `factor`.
    pub fn scale_grads(&mut self, factor: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.f_mul_scalar_(factor)?;
            }
        }
        Ok(())
    }

    /// The global L2 norm of the gradients.
    pub fn grad_norm(&self) -> Result<f64> {
        let _guard = tch::no_grad_guard();
        let mut total = 0.0;
        for (_, p) in &self.params {
            let g = p.grad();
            if g.defined() {
                total += f64::try_from(&g.f_to_kind(tch::Kind::Double)?.f_square()?.f_sum(tch::Kind::Double)?)?;
            }
        }
        Ok(total.sqrt())
    }

    /// Scales gradients so their global norm is at most `max_norm` (as
    /// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> Result<f64> {
        let norm = self.grad_norm()?;
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            self.scale_grads(coef)?;
        }
        Ok(norm)
    }

    /// One update at learning rate `lr`. Parameters without a gradient are skipped.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        for (i, (_, p)) in self.params.iter_mut().enumerate() {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let _ = p.f_mul_scalar_(1.0 - lr * self.weight_decay)?;
            let _ = self.m[i].f_mul_scalar_(b1)?.f_add_(&g.f_mul_scalar(1.0 - b1)?)?;
            let _ = self.v[i].f_mul_scalar_(b2)?.f_add_(&g.f_square()?.f_mul_scalar(1.0 - b2)?)?;
            let denom = self.v[i].f_div_scalar(bc2)?.f_sqrt()?.f_add_scalar(self.eps)?;
            let update = self.m[i].f_div(&denom)?.f_mul_scalar(lr / bc1)?;
            let _ = p.f_sub_(&update)?;
        }
        Ok(())
    }

    /// The moment estimates under `m.<name>` / `v.<name>`, for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("m.{name}"), self.m[i].shallow_clone()));
            out.push((format!("v.{name}"), self.v[i].shallow_clone()));
        }
        out
    }

    /// Restores the moments (from [`state_tensors`](Self::state_tensors)) and the step count.
    pub fn load_state(&mut self, tensors: &[(String, Tensor)], step: u64) -> Result<()> {
        let find = |key: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, t)| t)
                .ok_or_else(|| Error::invalid(format!("optimizer state lacks `{key}`")))
        };
        let _guard = tch::no_grad_guard();
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (slot, key) in [(&mut self.m[i], format!("m.{name}")), (&mut self.v[i], format!("v.{name}"))] {
                let src = find(&key)?;
                if src.size() != p.size() {
                    return Err(Error::invalid(format!(
                        "optimizer state `{key}` has shape {:?}, parameter {:?}",
                        src.size(),
                        p.size()
                    )));
                }
                slot.f_copy_(src)?;
            }
        }
        if tensors.len() != 2 * self.params.len() {
            return Err(Error::invalid(format!(
                "optimizer state holds {} tensors, expected {}",
                tensors.len(),
                2 * self.params.len()
            )));
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_matches_torch_first_step() {
        // First AdamW step moves each weight by lr * sign(grad) (m_hat / sqrt(v_hat) = ±1),
        // after decay by (1 - lr * wd).
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut opt = AdamW::new(vec![("p".into(), p.shallow_clone())], (0.9, 0.999), 1e-8, 0.1).unwrap();
        let loss = (&p * Tensor::from_slice(&[3.0f32, -0.5])).sum(tch::Kind::Float);
        loss.backward();
        opt.step(0.01).unwrap();
        let got = Vec::<f32>::try_from(&p.detach()).unwrap();
        let want = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) + 0.01];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }
}
