use gstreamer as gst;

/// Errors of the video adapters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// GStreamer itself could not start.
    #[error("could not initialise GStreamer: {0}")]
    Init(#[source] gst::glib::Error),
    /// A needed element is not installed (a missing plugin package).
    #[error(
        "GStreamer element `{0}` is not available (install the gstreamer1.0-plugins-* packages)"
    )]
    MissingElement(&'static str),
    /// The pipeline could not be built.
    #[error("could not build the pipeline: {0}")]
    Build(String),
    /// A state change failed (the error message on the bus, if any, is the cause).
    #[error("pipeline for {path} failed to start: {detail}")]
    Start {
        /// The file involved.
        path: String,
        /// What the bus said.
        detail: String,
    },
    /// An element posted an error while running.
    #[error("{path}: {error} (from {src}){}", debug.as_deref().map(|d| format!("; {d}")).unwrap_or_default())]
    Stream {
        /// The file involved.
        path: String,
        /// The element that failed.
        src: String,
        /// The error.
        error: String,
        /// GStreamer's debug detail.
        debug: Option<String>,
    },
    /// A frame of the wrong size was pushed.
    #[error("frame has {got} bytes, expected {expected} ({width}x{height} RGB)")]
    FrameSize {
        /// Bytes given.
        got: usize,
        /// Bytes expected.
        expected: usize,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
    /// The encoder refused a frame.
    #[error("encoder refused a frame: {0:?}")]
    Push(gst::FlowError),
    /// The file has an extension this writer does not know a muxer for.
    #[error("cannot tell the container from {0:?}: use .mp4, .mkv or .ts")]
    UnknownContainer(String),
}

impl VideoError {
    /// The typed error for an error message posted on a pipeline's bus.
    pub(crate) fn from_bus(path: &str, err: &gst::message::Error) -> Self {
        use gstreamer::prelude::*;
        VideoError::Stream {
            path: path.to_string(),
            src: err
                .src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_default(),
            error: err.error().to_string(),
            debug: err.debug().map(|d| d.to_string()),
        }
    }
}
