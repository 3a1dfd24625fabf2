//! The dock's live video: a rendered `flight.mp4` sent as H.264 over RTP/UDP in real time, as
//! recorded (no re-encoding):
//!
//! `gst-launch-1.0 filesrc location=flight.mp4 ! qtdemux ! h264parse ! rtph264pay config-interval=1 pt=96 ! identity sync=true ! udpsink host=HOST port=PORT`
//!
//! `identity sync=true` paces the packets on the pipeline clock; a probe after it notes when the
//! first packet leaves, which ties the stream's time to the wall clock: the OSD of a frame is
//! stamped with that instant plus the frame's presentation time.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

/// A running RTP sender.
#[derive(Debug)]
pub struct RtpSender {
    pipeline: gst::Pipeline,
    /// Unix time of the stream's time 0, set when the first packet leaves.
    t0: Arc<Mutex<Option<f64>>>,
}

/// How a sender's stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every frame was sent.
    Eos,
    /// An element failed.
    Error(String),
}

impl RtpSender {
    /// Starts streaming `video` to `host:port`.
    pub fn start(video: &Path, host: &str, port: u16) -> Result<Self, String> {
        argus_video::init().map_err(|e| e.to_string())?;
        let pipeline = gst::parse::launch(
            "filesrc name=src ! qtdemux ! h264parse ! rtph264pay config-interval=1 pt=96 \
             ! identity name=pace sync=true ! udpsink name=sink sync=false async=false",
        )
        .map_err(|e| format!("building the RTP sender: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the RTP sender is not a pipeline".to_string())?;
        let by_name = |name: &str| {
            pipeline
                .by_name(name)
                .ok_or_else(|| format!("the RTP sender has no {name}"))
        };
        by_name("src")?.set_property("location", video.to_string_lossy().as_ref());
        let sink = by_name("sink")?;
        sink.set_property("host", host);
        sink.set_property("port", i32::from(port));
        let t0: Arc<Mutex<Option<f64>>> = Arc::default();
        let first = t0.clone();
        let pad = by_name("pace")?
            .static_pad("src")
            .ok_or_else(|| "identity has no src pad".to_string())?;
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let pts = match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => b.pts(),
                    Some(gst::PadProbeData::BufferList(l)) => l.get(0).and_then(|b| b.pts()),
                    _ => None,
                };
                if let Some(pts) = pts {
                    let now = argus_core::clock::now_unix_s();
                    let mut t0 = first.lock().unwrap_or_else(|e| e.into_inner());
                    if t0.is_none() {
                        *t0 = Some(now - pts.nseconds() as f64 / 1e9);
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("starting the RTP sender: {e}"))?;
        Ok(Self { pipeline, t0 })
    }

    /// The Unix time of the stream's time 0, once the first packet has left.
    pub fn t0(&self) -> Option<f64> {
        *self.t0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How the stream ended, if it has.
    pub fn ended(&self) -> Option<Ended> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Eos, gst::MessageType::Error])?;
        Some(match msg.view() {
            gst::MessageView::Error(e) => Ended::Error(format!(
                "{}: {}",
                e.src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default(),
                e.error()
            )),
            _ => Ended::Eos,
        })
    }
}

impl Drop for RtpSender {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
