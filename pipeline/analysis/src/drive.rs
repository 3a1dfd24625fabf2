//! The one frame loop: `edge-agent run` (each source on its own thread, fed by its decoder) and
//! `edge-agent replay` (a recording as fast as it decodes) both hand their frames to [`drive`],
//! so a frame is timed, analysed, counted and its hits handed on the same way everywhere.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::detect::{Detect, Detection, FrameRef};
use argus_core::hit::Hit;

use crate::{Analyzer, FrameIn};

/// Frames a second assumed for a frame without a timestamp (a container that has none): its
/// time is its index over this.
pub const UNTIMED_FPS: f64 = 30.0;

/// A decoded frame as a source gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Index from the source's start.
    pub index: u64,
    /// Presentation time, seconds, when the container has one.
    pub pts_s: Option<f64>,
    /// Packed RGB.
    pub rgb: Vec<u8>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Frame {
    /// The frame's time: its timestamp, or its index at [`UNTIMED_FPS`].
    pub fn t_s(&self) -> f64 {
        self.pts_s.unwrap_or(self.index as f64 / UNTIMED_FPS)
    }

    /// The analysis's view of it.
    pub fn as_input(&self) -> FrameIn<'_> {
        FrameIn {
            index: self.index,
            t_s: self.t_s(),
            rgb: &self.rgb,
            width: self.width,
            height: self.height,
        }
    }
}

/// What [`drive`] tells its sink after each frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analysed {
    /// The frame's index.
    pub index: u64,
    /// Its time, seconds.
    pub t_s: f64,
    /// How long its analysis took (detection included).
    pub took: Duration,
}

/// Runs every frame through `analyzer` with `det`, then ends its tracks. After each frame the
/// sink gets what it says and the hits it completed; at the end, `None` and the last hits. A
/// frame whose analysis fails is logged and counted ([`crate::Counters::failed`]) and the loop
/// goes on; an error of the frames or of the sink stops it.
pub fn drive<D, E>(
    frames: impl IntoIterator<Item = Result<Frame, E>>,
    analyzer: &mut Analyzer,
    det: &mut D,
    mut sink: impl FnMut(Option<Analysed>, Vec<Hit>) -> Result<(), E>,
) -> Result<(), E>
where
    D: Detect,
{
    for frame in frames {
        let frame = frame?;
        let started = Instant::now();
        let input = frame.as_input();
        let hits = analyzer.frame(det, &input).unwrap_or_else(|e| {
            tracing::error!(source = %analyzer.source_id(), frame = frame.index, error = %e, "frame not analysed");
            Vec::new()
        });
        let step = Analysed {
            index: frame.index,
            t_s: input.t_s,
            took: started.elapsed(),
        };
        sink(Some(step), hits)?;
    }
    let last = analyzer.finish().unwrap_or_else(|e| {
        tracing::error!(source = %analyzer.source_id(), error = %e, "the last tracks could not be published");
        Vec::new()
    });
    sink(None, last)
}

/// One detector shared by several sources' loops, each batch taken in turn (one ONNX session
/// serves every source of an agent).
#[derive(Debug)]
pub struct Shared<D> {
    inner: Arc<Mutex<D>>,
    input_size: u32,
    classes: Vec<String>,
}

impl<D: Detect> Shared<D> {
    /// Shares `det`.
    pub fn new(det: D) -> Self {
        Self {
            input_size: det.input_size(),
            classes: det.classes().to_vec(),
            inner: Arc::new(Mutex::new(det)),
        }
    }
}

impl<D> Clone for Shared<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            input_size: self.input_size,
            classes: self.classes.clone(),
        }
    }
}

impl<D: Detect> Detect for Shared<D> {
    type Error = D::Error;

    fn input_size(&self) -> u32 {
        self.input_size
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn detect(&mut self, frames: &[FrameRef<'_>]) -> Result<Vec<Vec<Detection>>, D::Error> {
        // A batch that panicked left the session as it was before the batch: take it over.
        let mut det = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        det.detect(frames)
    }
}
