//! A frozen linear layer with an optional LoRA adapter attached.

use tch::Tensor;

use crate::error::{Error, Result};
use crate::lora::LoraLayer;

/// `y = x W + b`, plus `(alpha / r) · B A x` when an adapter is attached and not merged.
///
/// The weight is kept as `[in, out]` whatever the checkpoint layout (GPT-2's `Conv1D` stores it
/// so; `nn.Linear` checkpoints are transposed on load), so merging is the same for every family.
/// The base weight and bias never require gradients.
#[derive(Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    lora: Option<LoraLayer>,
}

impl Linear {
    /// From a `Conv1D`-style `[in, out]` weight.
    pub fn from_in_out(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight: weight.set_requires_grad(false), bias: bias.map(|b| b.set_requires_grad(false)), lora: None }
    }

    /// From an `nn.Linear`-style `[out, in]` weight.
    pub fn from_out_in(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self::from_in_out(weight.tr(), bias)
    }

    /// Another handle on the same weight, bias and adapter, without copying them (see
    /// [`CausalLm::shallow_clone`](crate::CausalLm::shallow_clone)).
    pub fn shallow_clone(&self) -> Self {
        Self {
            weight: self.weight.shallow_clone(),
            bias: self.bias.as_ref().map(Tensor::shallow_clone),
            lora: self.lora.as_ref().map(LoraLayer::shallow_clone),
        }
    }

    /// Input features.
    pub fn in_features(&self) -> i64 {
        self.weight.size()[0]
    }

    /// Output features.
    pub fn out_features(&self) -> i64 {
        self.weight.size()[1]
    }

    /// The `[in, out]` weight (merged adapters included).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The attached adapter, if any.
    pub fn lora(&self) -> Option<&LoraLayer> {
        self.lora.as_ref()
    }

    /// Attaches an adapter (replacing any previous one, which must not be merged).
    pub(crate) fn set_lora(&mut self, lora: Option<LoraLayer>) {
        self.lora = lora;
    }

    /// Takes the adapter off.
    pub(crate) fn take_lora(&mut self) -> Option<LoraLayer> {
        self.lora.take()
    }

    /// Adds (`sign = 1`) or removes (`sign = -1`) the adapter's update to the weight.
    pub(crate) fn fold_lora(&mut self, sign: f64) -> Result<()> {
        if let Some(l) = &self.lora {
            let _guard = tch::no_grad_guard();
            let delta = l.delta_in_out()?.f_mul_scalar(sign)?.f_to_kind(self.weight.kind())?;
            let _ = self.weight.f_add_(&delta)?;
        }
        Ok(())
    }

    /// Mutable adapter access for merge bookkeeping.
    pub(crate) fn lora_mut(&mut self) -> Option<&mut LoraLayer> {
        self.lora.as_mut()
    }

    /// Applies the layer to `x` (`[..., in]`); an input whose last dimension is not
    /// [`in_features`](Self::in_features) is an error, not a panic.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let in_f = self.in_features();
        let mut out_shape = x.size();
        match out_shape.last_mut() {
            Some(last) if *last == in_f => *last = self.out_features(),
            _ => {
                return Err(Error::invalid(format!(
                    "a linear layer of {in_f} inputs got a tensor of shape {:?}",
                    x.size()
                )))
            }
        }
        let x2 = x.f_reshape([-1, in_f])?;
        let y = match &self.bias {
            Some(b) => b.f_addmm(&x2, &self.weight)?,
            None => x2.f_matmul(&self.weight)?,
        };
        let y = match &self.lora {
            Some(l) if !l.is_merged() => y.f_add(&l.forward(&x2, train)?)?,
            _ => y,
        };
        Ok(y.f_reshape(out_shape)?)
    }
}
