//! GStreamer adapters: [`VideoWriter`] encodes RGB frames to an H.264 file, [`FrameReader`]
//! decodes any file GStreamer can play into packed RGB frames.
//!
//! Equivalent `gst-launch-1.0` lines:
//!
//! ```text
//! appsrc ! videoconvert ! x264enc ! h264parse ! mp4mux ! filesink location=out.mp4
//! filesrc location=in.mp4 ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink
//! ```
#![deny(missing_docs)]

mod error;
mod reader;
mod writer;

pub use error::VideoError;
pub use reader::{Frame, FrameReader, ReadOptions, VideoSource};
pub use writer::{VideoWriter, WriterOptions};

use gstreamer as gst;

/// Initialises GStreamer once; later calls are cheap.
pub fn init() -> Result<(), VideoError> {
    gst::init().map_err(VideoError::Init)
}
