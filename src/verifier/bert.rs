//! The BERT encoder on the CPU with candle: the same computation as `train/verifier/train.py`
//! (embeddings, six post-norm layers with erf GELU, mean pooling over the attention mask).

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{LayerNorm, Linear};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, String>;

pub struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// Named weights, the base's possibly overridden by trained ones.
pub struct Weights<'a> {
    pub base: &'a HashMap<String, Tensor>,
    pub over: &'a HashMap<String, Tensor>,
}

impl Weights<'_> {
    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.over
            .get(name)
            .or_else(|| self.base.get(name))
            .cloned()
            .ok_or_else(|| format!("the model has no tensor {name}"))
    }
}

fn shaped(t: Tensor, dims: &[usize], name: &str) -> Result<Tensor> {
    if t.dims() != dims {
        return Err(format!(
            "tensor {name} has shape {:?}, expected {dims:?}",
            t.dims()
        ));
    }
    t.to_dtype(DType::F32).map_err(|e| e.to_string())
}

impl Bert {
    pub fn new(
        w: &Weights,
        layers: usize,
        hidden: usize,
        inter: usize,
        heads: usize,
    ) -> Result<Bert> {
        let get = |name: &str, dims: &[usize]| shaped(w.get(name)?, dims, name);
        let linear = |name: &str, out: usize, inp: usize| -> Result<Linear> {
            Ok(Linear::new(
                get(&format!("{name}.weight"), &[out, inp])?,
                Some(get(&format!("{name}.bias"), &[out])?),
            ))
        };
        let norm = |name: &str| -> Result<LayerNorm> {
            Ok(LayerNorm::new(
                get(&format!("{name}.weight"), &[hidden])?,
                get(&format!("{name}.bias"), &[hidden])?,
                1e-12,
            ))
        };
        let word = w.get("embeddings.word_embeddings.weight")?;
        if word.dims().len() != 2 || word.dims()[1] != hidden {
            return Err(format!("word embeddings of shape {:?}", word.dims()));
        }
        let word = word.to_dtype(DType::F32).map_err(|e| e.to_string())?;
        let position = w.get("embeddings.position_embeddings.weight")?;
        let token_type = get("embeddings.token_type_embeddings.weight", &[2, hidden])?;
        let mut out = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("encoder.layer.{i}");
            out.push(Layer {
                query: linear(&format!("{p}.attention.self.query"), hidden, hidden)?,
                key: linear(&format!("{p}.attention.self.key"), hidden, hidden)?,
                value: linear(&format!("{p}.attention.self.value"), hidden, hidden)?,
                attention_out: linear(&format!("{p}.attention.output.dense"), hidden, hidden)?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                intermediate: linear(&format!("{p}.intermediate.dense"), inter, hidden)?,
                output: linear(&format!("{p}.output.dense"), hidden, inter)?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            word,
            position: position.to_dtype(DType::F32).map_err(|e| e.to_string())?,
            token_type,
            norm: norm("embeddings.LayerNorm")?,
            layers: out,
            heads,
        })
    }

    pub fn max_len(&self) -> usize {
        self.position.dims()[0]
    }

    /// Mean-pooled hidden states of a padded batch: `ids`, `types` and `mask` are
    /// `[batch][len]` with the same `len`.
    pub fn pooled(
        &self,
        ids: &[Vec<u32>],
        types: &[Vec<u32>],
        mask: &[Vec<u32>],
    ) -> Result<Tensor> {
        self.pooled_inner(ids, types, mask)
            .map_err(|e| e.to_string())
    }

    fn pooled_inner(
        &self,
        ids: &[Vec<u32>],
        types: &[Vec<u32>],
        mask: &[Vec<u32>],
    ) -> candle_core::Result<Tensor> {
        let dev = Device::Cpu;
        let (b, n) = (ids.len(), ids[0].len());
        let flat = |v: &[Vec<u32>]| Tensor::from_iter(v.iter().flatten().copied(), &dev);
        let ids_t = flat(ids)?;
        let types_t = flat(types)?;
        let mask_t = flat(mask)?.to_dtype(DType::F32)?.reshape((b, n))?;
        let hidden = self.word.dims()[1];
        let x = self.word.index_select(&ids_t, 0)?.reshape((b, n, hidden))?;
        let pos = self.position.narrow(0, 0, n)?.unsqueeze(0)?;
        let typ = self
            .token_type
            .index_select(&types_t, 0)?
            .reshape((b, n, hidden))?;
        let mut x = self.norm.forward(&x.broadcast_add(&pos)?.add(&typ)?)?;
        // Padding gets a large negative score before the softmax.
        let bias = ((mask_t.clone() - 1.0)? * 1e4)?.reshape((b, 1, 1, n))?;
        let hd = hidden / self.heads;
        let scale = 1.0 / (hd as f64).sqrt();
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        for l in &self.layers {
            let q = split(l.query.forward(&x)?)?;
            let k = split(l.key.forward(&x)?)?;
            let v = split(l.value.forward(&x)?)?;
            let att = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&bias)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let ctx = att.matmul(&v)?.transpose(1, 2)?.reshape((b, n, hidden))?;
            let h = l.attention_out.forward(&ctx)?;
            x = l.attention_norm.forward(&(h + &x)?)?;
            let h = l.intermediate.forward(&x)?.gelu_erf()?;
            let h = l.output.forward(&h)?;
            x = l.output_norm.forward(&(h + &x)?)?;
        }
        let m = mask_t.unsqueeze(2)?;
        let summed = x.broadcast_mul(&m)?.sum(1)?;
        let count = m.sum(1)?.clamp(1.0, f64::MAX)?;
        summed.broadcast_div(&count)
    }
}

/// Softmax over the last dimension, as rows of f32.
pub fn softmax_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    candle_nn::ops::softmax(logits, D::Minus1)
        .and_then(|p| p.to_vec2::<f32>())
        .map_err(|e| e.to_string())
}

/// L2-normalised rows.
pub fn normalised_rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    let rows = t.to_vec2::<f32>().map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            r.into_iter().map(|x| x / n).collect()
        })
        .collect())
}
