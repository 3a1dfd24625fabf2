//! A detector: one ONNX Runtime session, built once, run on batches of frames.

use std::path::{Path, PathBuf};

use argus_core::detect::{CenterNetOutput, Detection, Letterbox, nms};
use ort::session::{Session, builder::GraphOptimizationLevel};
use ort::value::TensorRef;

use crate::{InferError, Manifest, runtime};

/// How to build a detector.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// Threads of the session's intra-op pool.
    pub threads: usize,
    /// The ONNX Runtime library (else found by [`runtime::find_runtime`]).
    pub runtime: Option<PathBuf>,
    /// IoU above which boxes of one class are merged.
    pub nms_iou: f32,
    /// At most this many detections a frame.
    pub max_detections: usize,
    /// Overrides the manifest's per-class thresholds with one value, if set.
    pub score_threshold: Option<f32>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            runtime: None,
            nms_iou: 0.5,
            max_detections: 100,
            score_threshold: None,
        }
    }
}

pub use argus_core::detect::FrameRef;

/// A loaded detector.
#[derive(Debug)]
pub struct Detector {
    session: Session,
    manifest: Manifest,
    size: u32,
    thresholds: Vec<f32>,
    options: DetectorOptions,
    input: Vec<f32>,
}

fn dims(outlet: &ort::value::Outlet) -> Option<Vec<i64>> {
    outlet.dtype().tensor_shape().map(|s| s.to_vec())
}

impl Detector {
    /// Loads the model of `dir` (its `manifest.json` and ONNX file) and checks that they agree.
    pub fn load(dir: &Path, options: &DetectorOptions) -> Result<Self, InferError> {
        let manifest = Manifest::load(dir)?;
        let lib = runtime::find_runtime(options.runtime.as_deref())?;
        let env = runtime::init_runtime(&lib)?;
        let path = manifest.model_path();
        if !path.is_file() {
            return Err(InferError::Model {
                path,
                message: "file not found".into(),
            });
        }
        let model_err = |e: ort::Error| InferError::Model {
            path: path.clone(),
            message: e.to_string(),
        };
        let session = Session::builder(&env)
            .map_err(model_err)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| model_err(e.into()))?
            .with_intra_threads(options.threads.max(1))
            .map_err(|e| model_err(e.into()))?
            .commit_from_file(&path)
            .map_err(model_err)?;
        let size = manifest.input_size().expect("checked by Manifest::load");
        let mismatch = |message: String| InferError::Mismatch {
            path: path.clone(),
            message,
        };
        let [input] = session.inputs() else {
            return Err(mismatch(format!(
                "expected one input, found {}",
                session.inputs().len()
            )));
        };
        if input.name() != manifest.input.name {
            return Err(mismatch(format!(
                "input is named {:?}, manifest says {:?}",
                input.name(),
                manifest.input.name
            )));
        }
        let want = [-1, 3, i64::from(size), i64::from(size)];
        match dims(input) {
            Some(d) if d.len() == 4 && d[1..] == want[1..] => {}
            other => {
                return Err(mismatch(format!(
                    "input shape {other:?}, manifest says [batch, 3, {size}, {size}]"
                )));
            }
        }
        let cells = i64::from(size / manifest.decoder.stride);
        for (name, channels) in [
            ("heatmap", manifest.classes.len() as i64),
            ("size", 2),
            ("offset", 2),
        ] {
            let Some(o) = session.outputs().iter().find(|o| o.name() == name) else {
                return Err(mismatch(format!("no output named {name:?}")));
            };
            match dims(o) {
                Some(d) if d.len() == 4 && d[1..] == [channels, cells, cells] => {}
                other => {
                    return Err(mismatch(format!(
                        "output {name:?} has shape {other:?}, expected [batch, {channels}, {cells}, {cells}]"
                    )));
                }
            }
        }
        let thresholds = match options.score_threshold {
            Some(t) => vec![t; manifest.classes.len()],
            None => manifest.thresholds(),
        };
        tracing::info!(model = %manifest.name, version = %manifest.version, size, classes = manifest.classes.len(), "detector loaded");
        Ok(Self {
            session,
            manifest,
            size,
            thresholds,
            options: options.clone(),
            input: Vec::new(),
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model's square input side.
    pub fn input_size(&self) -> u32 {
        self.size
    }

    /// Detects objects in a batch of frames; boxes are in each frame's own pixels.
    pub fn detect(&mut self, frames: &[FrameRef<'_>]) -> Result<Vec<Vec<Detection>>, InferError> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.size as usize;
        let per = 3 * n * n;
        self.input.resize(frames.len() * per, 0.0);
        let inp = &self.manifest.input;
        let mut boxes = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            if f.width == 0
                || f.height == 0
                || f.rgb.len() != f.width as usize * f.height as usize * 3
            {
                return Err(InferError::Frame {
                    index: i,
                    message: format!("{} bytes is not {}×{} RGB", f.rgb.len(), f.width, f.height),
                });
            }
            let lb = Letterbox::new(f.width, f.height, self.size);
            let chunk = &mut self.input[i * per..(i + 1) * per];
            lb.fill_nchw(f.rgb, inp.scale, inp.letterbox.pad_value, chunk);
            for c in 0..3 {
                if inp.mean[c] != 0.0 || inp.std[c] != 1.0 {
                    for v in &mut chunk[c * n * n..(c + 1) * n * n] {
                        *v = (*v - inp.mean[c]) / inp.std[c];
                    }
                }
            }
            boxes.push(lb);
        }
        let shape = [frames.len(), 3, n, n];
        let tensor = TensorRef::from_array_view((shape, self.input.as_slice()))
            .map_err(|e| InferError::Run(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![inp.name.as_str() => tensor])
            .map_err(|e| InferError::Run(e.to_string()))?;
        let get = |name: &str| -> Result<&[f32], InferError> {
            outputs[name]
                .try_extract_tensor::<f32>()
                .map(|(_, d)| d)
                .map_err(|e| InferError::Run(format!("{name}: {e}")))
        };
        let (heat, size, offset) = (get("heatmap")?, get("size")?, get("offset")?);
        let classes = self.manifest.classes.len();
        let cells = n / self.manifest.decoder.stride as usize;
        let plane = cells * cells;
        let mut out = Vec::with_capacity(frames.len());
        for (i, lb) in boxes.iter().enumerate() {
            let view = CenterNetOutput {
                heatmap: &heat[i * classes * plane..(i + 1) * classes * plane],
                size: &size[i * 2 * plane..(i + 1) * 2 * plane],
                offset: &offset[i * 2 * plane..(i + 1) * 2 * plane],
                classes,
                h: cells,
                w: cells,
                stride: self.manifest.decoder.stride as f32,
            };
            let dets = view.decode(&self.thresholds, self.options.max_detections * 2);
            let mut dets = nms(dets, self.options.nms_iou);
            dets.truncate(self.options.max_detections);
            for d in &mut dets {
                d.bbox = lb.to_image(d.bbox);
            }
            out.push(dets);
        }
        Ok(out)
    }
}

impl argus_core::detect::Detect for Detector {
    type Error = InferError;

    fn input_size(&self) -> u32 {
        self.size
    }

    fn classes(&self) -> &[String] {
        &self.manifest.classes
    }

    fn detect(&mut self, frames: &[FrameRef<'_>]) -> Result<Vec<Vec<Detection>>, InferError> {
        Detector::detect(self, frames)
    }
}
