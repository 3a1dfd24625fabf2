//! A live RTSP server for a simulated street camera (gst-rtsp-server).
//!
//! Equivalent launch line of the served media:
//! `appsrc is-live=true ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency ! rtph264pay name=pay0`.
//! Frames are rendered in real time by the caller and pushed with [`RtspCamera::push`]; while no
//! client watches, frames are dropped (a live camera does not buffer for nobody).

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// A running RTSP server with one mount.
#[derive(Debug)]
pub struct RtspCamera {
    /// The URL clients connect to.
    pub url: String,
    src: Arc<Mutex<Option<gst_app::AppSrc>>>,
    main_loop: glib::MainLoop,
    _server: rtsp::RTSPServer,
    _source: glib::SourceId,
}

impl RtspCamera {
    /// Serves `mount` at `address:port` for RGB frames of the given size and rate.
    pub fn start(
        address: &str,
        port: u16,
        mount: &str,
        width: u32,
        height: u32,
        fps: u32,
    ) -> anyhow::Result<Self> {
        argus_video::init()?;
        let server = rtsp::RTSPServer::new();
        server.set_address(address);
        server.set_service(&port.to_string());
        let mounts = server
            .mount_points()
            .ok_or_else(|| anyhow::anyhow!("the RTSP server has no mount points"))?;
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(&format!(
            "( appsrc name=src is-live=true format=time do-timestamp=true \
               caps=video/x-raw,format=RGB,width={width},height={height},framerate={fps}/1 \
               max-bytes={} leaky-type=downstream \
             ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} \
             ! rtph264pay name=pay0 pt=96 config-interval=1 )",
            u64::from(width) * u64::from(height) * 3 * 4
        ));
        factory.set_shared(true);
        let src: Arc<Mutex<Option<gst_app::AppSrc>>> = Arc::default();
        let slot = src.clone();
        factory.connect_media_configure(move |_, media| {
            let element = media.element();
            let Some(bin) = element.downcast_ref::<gst::Bin>() else {
                return;
            };
            if let Some(appsrc) = bin
                .by_name_recurse_up("src")
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            {
                *slot.lock().expect("not poisoned") = Some(appsrc);
            }
            let slot = slot.clone();
            media.connect_unprepared(move |_| {
                *slot.lock().expect("not poisoned") = None;
            });
        });
        mounts.add_factory(mount, factory);
        let context = glib::MainContext::new();
        let source = server.attach(Some(&context))?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let ml = main_loop.clone();
        std::thread::Builder::new()
            .name("rtsp".into())
            .spawn(move || {
                let ok = context.with_thread_default(|| ml.run());
                if ok.is_err() {
                    tracing::error!("rtsp main loop could not take its context");
                }
            })?;
        let url = format!("rtsp://{address}:{}{mount}", server.bound_port());
        Ok(Self {
            url,
            src,
            main_loop,
            _server: server,
            _source: source,
        })
    }

    /// Whether a client is watching.
    pub fn has_client(&self) -> bool {
        self.src.lock().expect("not poisoned").is_some()
    }

    /// Pushes one RGB frame to the watching clients, if any.
    pub fn push(&self, rgb: &[u8]) {
        let guard = self.src.lock().expect("not poisoned");
        if let Some(src) = guard.as_ref() {
            let _ = src.push_buffer(gst::Buffer::from_slice(rgb.to_vec()));
        }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        self.main_loop.quit();
    }
}
