//! The manifest that ships beside every model (`manifest.json`, schema `argus.model/1`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::InferError;

/// The schema tag this reader understands.
pub const SCHEMA: &str = "argus.model/1";

/// How input pixels become the model's input tensor.
#[derive(Debug, Clone, Deserialize)]
pub struct Input {
    /// Input name in the graph.
    pub name: String,
    /// `["batch", 3, size, size]`.
    pub shape: Vec<serde_json::Value>,
    /// Pixel scale (applied before mean/std), e.g. 1/255.
    pub scale: f32,
    /// Per-channel mean subtracted after scaling.
    pub mean: [f32; 3],
    /// Per-channel divisor after the mean.
    pub std: [f32; 3],
    /// Letterbox settings.
    pub letterbox: LetterboxSpec,
}

/// How frames are fitted into the square input.
#[derive(Debug, Clone, Deserialize)]
pub struct LetterboxSpec {
    /// Only `top-left` is supported.
    pub align: String,
    /// Padding value, 0–255 before scaling.
    pub pad_value: u8,
}

/// How to turn the outputs into boxes.
#[derive(Debug, Clone, Deserialize)]
pub struct Decoder {
    /// Only `centernet` is supported.
    pub kind: String,
    /// Input pixels per output cell.
    pub stride: u32,
}

/// A model's manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Schema tag.
    pub schema: String,
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// The ONNX file, relative to the manifest.
    pub file: String,
    /// Input description.
    pub input: Input,
    /// Output names to their descriptions (shape at least).
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Decoder.
    pub decoder: Decoder,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// Default score threshold per class name.
    pub score_thresholds: BTreeMap<String, f32>,
    /// Where the manifest was read from (set on load).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Manifest {
    /// Reads `dir/manifest.json` and checks it is one this code can run.
    pub fn load(dir: &Path) -> Result<Self, InferError> {
        let path = dir.join("manifest.json");
        let bad = |message: String| InferError::Manifest {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let mut m: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        m.dir = dir.to_path_buf();
        if m.schema != SCHEMA {
            return Err(bad(format!("schema {:?} is not {SCHEMA:?}", m.schema)));
        }
        if m.decoder.kind != "centernet" {
            return Err(bad(format!(
                "decoder.kind {:?} is not supported (only \"centernet\")",
                m.decoder.kind
            )));
        }
        if m.input.letterbox.align != "top-left" {
            return Err(bad(format!(
                "input.letterbox.align {:?} is not supported",
                m.input.letterbox.align
            )));
        }
        if m.classes.is_empty() {
            return Err(bad("classes: empty".into()));
        }
        if m.input_size().is_none() {
            return Err(bad(format!(
                "input.shape {:?} is not [batch, 3, size, size]",
                m.input.shape
            )));
        }
        for name in ["heatmap", "size", "offset"] {
            if !m.outputs.contains_key(name) {
                return Err(bad(format!("outputs: no `{name}`")));
            }
        }
        for c in m.score_thresholds.keys() {
            if !m.classes.contains(c) {
                return Err(bad(format!("score_thresholds: unknown class {c:?}")));
            }
        }
        Ok(m)
    }

    /// The square input side, from `input.shape`.
    pub fn input_size(&self) -> Option<u32> {
        let s = &self.input.shape;
        let dim = |i: usize| s.get(i).and_then(serde_json::Value::as_u64);
        (s.len() == 4 && dim(1) == Some(3) && dim(2).is_some() && dim(2) == dim(3))
            .then(|| dim(2).unwrap_or(0) as u32)
    }

    /// The score threshold of each class, in class order (0.5 where unset).
    pub fn thresholds(&self) -> Vec<f32> {
        self.classes
            .iter()
            .map(|c| self.score_thresholds.get(c).copied().unwrap_or(0.5))
            .collect()
    }

    /// The model file's path.
    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.file)
    }
}
