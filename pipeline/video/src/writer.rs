use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::error::VideoError;
use crate::reader::{bus_error, start};

/// Encoder settings for [`VideoWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Target bitrate, kbit/s. `None`: about 0.13 bit per pixel per frame.
    pub bitrate_kbps: Option<u32>,
    /// x264 speed preset name (`ultrafast` … `veryslow`).
    pub speed_preset: &'static str,
    /// Frames between key frames. `None`: two seconds.
    pub keyframe_interval: Option<u32>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            bitrate_kbps: None,
            speed_preset: "superfast",
            keyframe_interval: None,
        }
    }
}

/// Encodes packed RGB frames into an H.264 file (MP4, MKV or MPEG-TS by extension).
///
/// Frames are timestamped at a constant rate. `push_rgb` blocks when the encoder falls behind
/// (the source's queue is bounded), so memory stays flat however fast frames are produced.
#[derive(Debug)]
pub struct VideoWriter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    path: String,
    width: u32,
    height: u32,
    fps: u32,
    frames: u64,
}

fn make(name: &'static str) -> Result<gst::Element, VideoError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| VideoError::MissingElement(name))
}

impl VideoWriter {
    /// Opens `path` for writing `width`×`height` frames at `fps` frames per second.
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fps: u32,
        options: &WriterOptions,
    ) -> Result<Self, VideoError> {
        crate::init()?;
        let shown = path.display().to_string();
        let muxer = match path.extension().and_then(|e| e.to_str()) {
            Some("mp4") | Some("MP4") => "mp4mux",
            Some("mkv") => "matroskamux",
            Some("ts") => "mpegtsmux",
            _ => return Err(VideoError::UnknownContainer(shown)),
        };
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "RGB")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("framerate", gst::Fraction::new(fps as i32, 1))
            .build();
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes(u64::from(width) * u64::from(height) * 3 * 4)
            .build();
        let convert = make("videoconvert")?;
        // 4:2:0, which every player and hardware decoder takes (x264 would pick 4:4:4 for RGB).
        let i420 = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("format", "I420")
                    .build(),
            )
            .build()
            .map_err(|_| VideoError::MissingElement("capsfilter"))?;
        let encoder = make("x264enc")?;
        let bitrate = options.bitrate_kbps.unwrap_or_else(|| {
            ((u64::from(width) * u64::from(height) * u64::from(fps)) as f64 * 0.13 / 1000.0) as u32
        });
        encoder.set_property("bitrate", bitrate.max(200));
        encoder.set_property_from_str("speed-preset", options.speed_preset);
        encoder.set_property(
            "key-int-max",
            options.keyframe_interval.unwrap_or(2 * fps).max(1),
        );
        // No B-frames: timestamps then come back from MP4 exactly as written (qtdemux shifts
        // them by the reorder delay otherwise), and decoders emit each frame at once.
        encoder.set_property("bframes", 0u32);
        // One encoding thread: x264's frame threads make the output depend on scheduling, and a
        // simulated recording must come out the same for the same seed (tests compare against
        // it). Measured: ~30 % slower encoding, still far faster than rendering.
        encoder.set_property("threads", 1u32);
        let parse = make("h264parse")?;
        let mux = make(muxer)?;
        let sink = make("filesink")?;
        sink.set_property("location", &shown);

        let pipeline = gst::Pipeline::new();
        let elements = [
            src.upcast_ref(),
            &convert,
            &i420,
            &encoder,
            &parse,
            &mux,
            &sink,
        ];
        pipeline
            .add_many(elements)
            .and_then(|_| gst::Element::link_many(elements))
            .map_err(|e| VideoError::Build(e.to_string()))?;
        start(&pipeline, gst::State::Playing, &shown)?;
        Ok(Self {
            pipeline,
            src,
            path: shown,
            width,
            height,
            fps,
            frames: 0,
        })
    }

    /// The number of frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one frame of packed RGB (`width * height * 3` bytes).
    pub fn push_rgb(&mut self, rgb: &[u8]) -> Result<(), VideoError> {
        let expected = self.width as usize * self.height as usize * 3;
        if rgb.len() != expected {
            return Err(VideoError::FrameSize {
                got: rgb.len(),
                expected,
                width: self.width,
                height: self.height,
            });
        }
        let mut buffer = gst::Buffer::from_slice(rgb.to_vec());
        {
            let b = buffer.get_mut().expect("a new buffer is writable");
            let pts = gst::ClockTime::SECOND.mul_div_floor(self.frames, u64::from(self.fps));
            let next = gst::ClockTime::SECOND.mul_div_floor(self.frames + 1, u64::from(self.fps));
            b.set_pts(pts);
            b.set_duration(next.zip(pts).map(|(n, p)| n - p));
        }
        match self.src.push_buffer(buffer) {
            Ok(_) => {
                self.frames += 1;
                Ok(())
            }
            Err(flow) => Err(self.stream_error().unwrap_or(VideoError::Push(flow))),
        }
    }

    fn stream_error(&self) -> Option<VideoError> {
        bus_error(&self.pipeline).map(|detail| VideoError::Start {
            path: self.path.clone(),
            detail,
        })
    }

    /// Ends the stream, waits for the file to be finalised and closes it.
    pub fn finish(self) -> Result<(), VideoError> {
        let _ = self.src.end_of_stream();
        let bus = self.pipeline.bus().expect("a pipeline has a bus");
        let mut result = Ok(());
        for msg in bus.iter_timed(gst::ClockTime::NONE) {
            use gst::MessageView;
            match msg.view() {
                MessageView::Eos(..) => break,
                MessageView::Error(err) => {
                    result = Err(VideoError::from_bus(&self.path, err));
                    break;
                }
                _ => {}
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        result
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
