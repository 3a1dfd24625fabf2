use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::error::VideoError;

/// One decoded frame, packed RGB (`width * 3` bytes a row, no padding).
#[derive(Debug, Clone)]
pub struct Frame {
    /// The frame's ordinal among all frames the stream decoded, from 0 — frames skipped by a
    /// rate limit ([`ReadOptions::max_fps`]) count too.
    pub index: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Presentation time from the start of the stream, when known.
    pub pts: Option<Duration>,
    /// On a live source, when the frame reached this machine: its presentation time on the
    /// pipeline's clock, which the jitter buffer sets from the packets' arrival (not the later
    /// moment the reader got it, after the decoder and a queue).
    pub arrived: Option<std::time::Instant>,
    /// The pixels.
    pub rgb: Vec<u8>,
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSource {
    /// A file GStreamer can play (MP4, MKV, MPEG-TS; H.264, H.265, …).
    File(std::path::PathBuf),
    /// An RTSP camera.
    Rtsp {
        /// `rtsp://…`.
        url: String,
        /// Interleaved over TCP (true) or RTP over UDP.
        tcp: bool,
    },
    /// An RTP stream sent to a local UDP port (a dock's video).
    RtpUdp {
        /// The port.
        port: u16,
        /// `H264` or `H265`.
        encoding: String,
    },
}

impl VideoSource {
    /// A source from a config string: `rtsp://…`, `udp://@:PORT[?encoding=H265]`, or a path.
    pub fn parse(uri: &str, rtsp_tcp: bool) -> Result<Self, VideoError> {
        if uri.starts_with("rtsp://") || uri.starts_with("rtsps://") {
            return Ok(Self::Rtsp {
                url: uri.into(),
                tcp: rtsp_tcp,
            });
        }
        if let Some(rest) = uri.strip_prefix("udp://") {
            let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
            let port = addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .ok_or_else(|| VideoError::Build(format!("{uri}: expected udp://@:PORT")))?;
            let encoding = query
                .strip_prefix("encoding=")
                .unwrap_or("H264")
                .to_ascii_uppercase();
            return Ok(Self::RtpUdp { port, encoding });
        }
        Ok(Self::File(
            uri.strip_prefix("file://").unwrap_or(uri).into(),
        ))
    }

    /// Whether frames arrive in real time (and may be dropped when the reader falls behind).
    pub fn is_live(&self) -> bool {
        !matches!(self, Self::File(_))
    }

    /// How long a live frame is held back to reorder network packets before it is decoded:
    /// a frame arrives this much after it was captured (plus transport and decoding).
    pub fn latency(&self) -> Duration {
        if self.is_live() {
            Duration::from_millis(LIVE_LATENCY_MS)
        } else {
            Duration::ZERO
        }
    }
}

/// The jitter buffer's latency on live sources, milliseconds.
const LIVE_LATENCY_MS: u64 = 200;

impl std::fmt::Display for VideoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Rtsp { url, .. } => f.write_str(url),
            Self::RtpUdp { port, encoding } => write!(f, "udp://@:{port} ({encoding})"),
        }
    }
}

/// How a [`FrameReader`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadOptions {
    /// Deliver at most this many frames per second of stream time; the rest are dropped right
    /// after decoding, before colour conversion and copying (which cost more than decoding a
    /// 1080p frame). `None` or 0 delivers every frame.
    pub max_fps: Option<f64>,
}

/// Decodes a video source into RGB frames, in order, through `decodebin` (which picks hardware
/// decoders where the machine has them). Iterate it; an error ends the iteration.
#[derive(Debug)]
pub struct FrameReader {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    path: String,
    done: bool,
    live: bool,
}

/// Sets a pipeline to `state`; on failure, stops it and returns the error its bus holds.
pub(crate) fn start(
    pipeline: &gst::Pipeline,
    state: gst::State,
    path: &str,
) -> Result<(), VideoError> {
    if pipeline.set_state(state).is_ok() {
        return Ok(());
    }
    let detail = bus_error(pipeline).unwrap_or_else(|| "state change failed".into());
    let _ = pipeline.set_state(gst::State::Null);
    Err(VideoError::Start {
        path: path.to_string(),
        detail,
    })
}

/// The first error message waiting on a pipeline's bus, formatted, if any.
pub(crate) fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(err) = msg.view() {
            let src = err.src().map(|s| s.name().to_string()).unwrap_or_default();
            return Some(format!("{} (from {src})", err.error()));
        }
    }
    None
}

impl FrameReader {
    /// Opens a video file.
    pub fn open(path: &Path) -> Result<Self, VideoError> {
        Self::open_source(&VideoSource::File(path.to_path_buf()))
    }

    /// Opens any source: a file, an RTSP camera or an RTP/UDP stream. Live sources keep only
    /// the newest frames when the reader falls behind; files never drop one.
    pub fn open_source(source: &VideoSource) -> Result<Self, VideoError> {
        Self::open_with(source, &ReadOptions::default())
    }

    /// Opens any source with [`ReadOptions`].
    pub fn open_with(source: &VideoSource, opts: &ReadOptions) -> Result<Self, VideoError> {
        crate::init()?;
        let shown = source.to_string();
        let tail = "decodebin ! videoconvert name=convert ! video/x-raw,format=RGB ! appsink name=sink sync=false";
        let description = match source {
            VideoSource::File(_) => format!("filesrc name=src ! {tail} max-buffers=4"),
            VideoSource::Rtsp { tcp, .. } => format!(
                "rtspsrc name=src latency={LIVE_LATENCY_MS} protocols={} ! {tail} max-buffers=2 drop=true",
                if *tcp { "tcp" } else { "udp" }
            ),
            VideoSource::RtpUdp { port, encoding } => format!(
                "udpsrc port={port} caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name={encoding}\" ! \
                 rtpjitterbuffer latency={LIVE_LATENCY_MS} ! {} ! {tail} max-buffers=2 drop=true",
                if encoding == "H265" {
                    "rtph265depay"
                } else {
                    "rtph264depay"
                }
            ),
        };
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| VideoError::Build(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| VideoError::Build("not a pipeline".into()))?;
        match source {
            VideoSource::File(p) => pipeline
                .by_name("src")
                .expect("named in the description")
                .set_property("location", p.display().to_string()),
            VideoSource::Rtsp { url, .. } => pipeline
                .by_name("src")
                .expect("named in the description")
                .set_property("location", url),
            VideoSource::RtpUdp { .. } => {}
        }
        let sink = pipeline
            .by_name("sink")
            .expect("named in the description")
            .downcast::<gst_app::AppSink>()
            .map_err(|_| VideoError::Build("sink is not an appsink".into()))?;
        pace(&pipeline, opts.max_fps.filter(|f| *f > 0.0));
        start(&pipeline, gst::State::Paused, &shown)?;
        let _ = pipeline.set_state(gst::State::Playing);
        Ok(Self {
            pipeline,
            sink,
            path: shown,
            done: false,
            live: source.is_live(),
        })
    }

    /// The file's duration, when the container states it.
    pub fn duration(&self) -> Option<Duration> {
        self.pipeline
            .query_duration::<gst::ClockTime>()
            .map(|d| Duration::from_nanos(d.nseconds()))
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, VideoError> {
        // Poll rather than block: an element that fails before the end of the stream posts an
        // error on the bus, and the appsink would otherwise wait for a sample forever.
        let sample = loop {
            if let Some(s) = self.sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
                break s;
            }
            let bus = self.pipeline.bus().expect("a pipeline has a bus");
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
                && let gst::MessageView::Error(err) = msg.view()
            {
                return Err(VideoError::from_bus(&self.path, err));
            }
            if self.sink.is_eos() {
                return Ok(None);
            }
        };
        let caps = sample
            .caps()
            .ok_or_else(|| VideoError::Build("sample without caps".into()))?;
        let info = gst_video::VideoInfo::from_caps(caps)
            .map_err(|e| VideoError::Build(format!("bad caps: {e}")))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| VideoError::Build("sample without buffer".into()))?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
            .map_err(|_| VideoError::Build("unreadable frame".into()))?;
        let (w, h) = (info.width(), info.height());
        let stride = frame.plane_stride()[0] as usize;
        let data = frame
            .plane_data(0)
            .map_err(|_| VideoError::Build("no plane data".into()))?;
        let row = w as usize * 3;
        let mut rgb = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            rgb.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        let arrived = if self.live {
            buffer.pts().and_then(|pts| self.instant_of(pts))
        } else {
            None
        };
        Ok(Some(Frame {
            index: buffer.offset(),
            width: w,
            height: h,
            pts: buffer.pts().map(|t| Duration::from_nanos(t.nseconds())),
            arrived,
            rgb,
        }))
    }

    /// The moment the pipeline's running time was `t` (running time = clock − base time).
    fn instant_of(&self, t: gst::ClockTime) -> Option<std::time::Instant> {
        let clock = self.pipeline.clock()?;
        let running = clock.time().checked_sub(self.pipeline.base_time()?)?;
        let ago = running.checked_sub(t)?;
        std::time::Instant::now().checked_sub(Duration::from_nanos(ago.nseconds()))
    }
}

/// Numbers every decoded frame (in the buffer's `offset`, which conversion keeps) and, with a
/// rate limit, drops the frames that come sooner than `1 / max_fps` after the last one kept —
/// before `videoconvert`, so a dropped frame is never converted or copied.
fn pace(pipeline: &gst::Pipeline, max_fps: Option<f64>) {
    let pad = pipeline
        .by_name("convert")
        .expect("named in the description")
        .static_pad("sink")
        .expect("videoconvert has a sink pad");
    let min_gap = max_fps.map(|f| gst::ClockTime::from_nseconds((0.999e9 / f) as u64));
    // (frames numbered so far, pts of the last frame kept); the probe runs on the streaming
    // thread, one buffer at a time.
    let state = std::sync::Mutex::new((0u64, None::<gst::ClockTime>));
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let mut st = state.lock().expect("probe state");
        let index = st.0;
        st.0 += 1;
        let Some(buffer) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        if let (Some(gap), Some(pts)) = (min_gap, buffer.pts()) {
            if st.1.is_some_and(|l| pts < l + gap) {
                // `Handled` with the buffer left in `info`: the binding releases it (with
                // `Drop`, GStreamer 1.22 would also try to and log a critical warning).
                return gst::PadProbeReturn::Handled;
            }
            st.1 = Some(pts);
        }
        buffer.make_mut().set_offset(index);
        gst::PadProbeReturn::Ok
    });
}

impl Iterator for FrameReader {
    type Item = Result<Frame, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_frame() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VideoWriter, WriterOptions};

    #[test]
    fn written_frames_decode_back_with_their_size_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.mp4");
        let mut w = VideoWriter::create(&path, 160, 96, 10, &WriterOptions::default()).unwrap();
        for i in 0..12u8 {
            let frame: Vec<u8> = (0..160 * 96 * 3)
                .map(|k| (k as u8).wrapping_add(i * 20))
                .collect();
            w.push_rgb(&frame).unwrap();
        }
        assert!(matches!(
            w.push_rgb(&[0; 5]),
            Err(VideoError::FrameSize { .. })
        ));
        w.finish().unwrap();
        let frames: Vec<Frame> = FrameReader::open(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(frames.len(), 12);
        assert!(frames.iter().all(|f| (f.width, f.height) == (160, 96)));
        assert_eq!(frames[3].pts, Some(Duration::from_millis(300)));
        assert!(frames.iter().enumerate().all(|(k, f)| f.index == k as u64));
        // At most 4 of the 10 frames a second, numbered as decoded: 0, 3, 6, 9 (0.3 s apart).
        let paced: Vec<Frame> = FrameReader::open_with(
            &VideoSource::File(path.clone()),
            &ReadOptions { max_fps: Some(4.0) },
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
        let kept: Vec<u64> = paced.iter().map(|f| f.index).collect();
        assert_eq!(kept, [0, 3, 6, 9]);
        assert_eq!(paced[1].rgb, frames[3].rgb);
    }

    /// Runs a `gst-launch`-style pipeline to its end.
    fn run_to_end(description: &str) {
        crate::init().unwrap();
        let p = gst::parse::launch(description).unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let msg = p
            .bus()
            .unwrap()
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(60),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("the pipeline ends");
        p.set_state(gst::State::Null).unwrap();
        assert!(
            matches!(msg.view(), gst::MessageView::Eos(_)),
            "{description}: {msg:?}"
        );
    }

    #[test]
    fn every_container_and_codec_a_source_may_use_decodes_frame_by_frame() {
        let dir = tempfile::tempdir().unwrap();
        for (name, encode) in [
            ("h264.mkv", "x264enc ! h264parse ! matroskamux"),
            ("h264.ts", "x264enc ! h264parse ! mpegtsmux"),
            ("h265.mp4", "x265enc ! h265parse ! mp4mux"),
            ("h265.mkv", "x265enc ! h265parse ! matroskamux"),
            ("h265.ts", "x265enc ! h265parse ! mpegtsmux"),
        ] {
            let path = dir.path().join(name);
            run_to_end(&format!(
                "videotestsrc num-buffers=24 pattern=ball ! video/x-raw,width=320,height=240,framerate=12/1 ! \
                 {encode} ! filesink location={}",
                path.display()
            ));
            let frames: Vec<Frame> = FrameReader::open(&path)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(frames.len(), 24, "{name}");
            assert!(
                frames.iter().all(|f| (f.width, f.height) == (320, 240)),
                "{name}"
            );
            assert!(
                frames.windows(2).all(|w| w[1].pts > w[0].pts),
                "{name}: timestamps must increase"
            );
        }
    }

    #[test]
    fn missing_and_corrupt_files_give_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mp4");
        let err = FrameReader::open(&missing).unwrap_err().to_string();
        assert!(err.contains("nope.mp4"), "{err}");
        let corrupt = dir.path().join("corrupt.mp4");
        std::fs::write(&corrupt, b"\x00\x00\x00\x18ftypmp42 this is not a video").unwrap();
        let first = FrameReader::open(&corrupt).and_then(|mut r| r.next().transpose());
        let err = first
            .expect_err("a corrupt file must not decode")
            .to_string();
        assert!(err.contains("corrupt.mp4"), "{err}");
    }
}
