//! Every real DJI SRT dialect in `../shared/data/telemetry/dji_srt/` reads into telemetry with
//! the right position, height and attitude; the broken ones give clear errors.

use argus_core::telemetry::{self, PoseDefaults, PoseTimeline, TelemetryError};

fn read(name: &str) -> Option<Result<Vec<telemetry::Sample>, TelemetryError>> {
    let dir = argus_testkit::shared_data("telemetry/dji_srt")?;
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    Some(telemetry::read_srt(&text))
}

/// Reads a file that must work and checks its first sample and its record count.
fn check(
    name: &str,
    min_samples: usize,
    lat: f64,
    lon: f64,
    height: Option<f64>,
) -> Option<Vec<telemetry::Sample>> {
    let s = read(name)?.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(s.len() >= min_samples, "{name}: {} samples", s.len());
    assert!(
        (s[0].lat - lat).abs() < 1e-4 && (s[0].lon - lon).abs() < 1e-4,
        "{name}: {:?}",
        s[0]
    );
    if let Some(h) = height {
        let got = s[0].height_m.unwrap_or_else(|| panic!("{name}: no height"));
        assert!((got - h).abs() < 1e-6, "{name}: height {got}");
    }
    assert!(
        s.windows(2).all(|w| w[1].t_s >= w[0].t_s),
        "{name}: time goes backwards"
    );
    Some(s)
}

#[test]
fn modern_bracket_mavic3() {
    let Some(s) = check("MAVIC3.srt", 10, 3.41531, -3.37440, Some(-2.4)) else {
        return;
    };
    assert!((s[1].t_s - 0.020).abs() < 1e-9);
    assert_eq!(s[0].abs_alt_m, Some(0.401));
    assert_eq!(s[0].focal_35mm, Some(24.0));
}

#[test]
fn mavic2_style_air2s_and_air2() {
    let Some(s) = check("air2s.srt", 10, 41.424724, 2.234156, None) else {
        return;
    };
    assert_eq!(s[0].abs_alt_m, Some(117.0));
    assert_eq!(s[0].focal_35mm, Some(24.0), "focal_len 240 means 24 mm");
    let s = check("mavic_air2.srt", 10, 41.420684, 2.162162, None).unwrap();
    assert_eq!(s[1].abs_alt_m, Some(28.6));
    // An absolute altitude alone needs the ground's altitude to become a height.
    let err = PoseTimeline::new(&s, &PoseDefaults::default()).unwrap_err();
    assert!(err.to_string().contains("ground_abs_alt_m"), "{err}");
}

#[test]
fn untimed_mavic2_style_with_misspelt_longitude() {
    let Some(s) = check("mavic_2_style.SRT", 5, -20.2533, 149.0251, None) else {
        return;
    };
    assert!(
        (s[1].t_s - 1.0).abs() < 1e-6,
        "time from the clock: {}",
        s[1].t_s
    );
}

#[test]
fn legacy_tuple_is_longitude_first() {
    // Central Queensland, Australia, only as (lon, lat).
    let Some(s) = check("mavic_pro.SRT", 100, -20.2533, 149.0251, Some(1.9)) else {
        return;
    };
    assert!((s[0].t_s - 1.0).abs() < 1e-9);
    check("mavic_pro_buggy.SRT", 100, 42.4668, -1.2218, Some(0.0));
    check("old_format.SRT", 100, -20.2533, 149.0251, Some(1.9));
}

#[test]
fn matrice_300_is_latitude_first_with_metres() {
    let Some(s) = check("matrice_300.srt", 5, 36.6146, -6.1120, Some(0.3)) else {
        return;
    };
    assert!((s[4].height_m.unwrap() - 4.1).abs() < 1e-9);
}

#[test]
fn compact_dialect_with_gimbal_angles() {
    let Some(s) = check("p4_rtk.SRT", 50, -34.237922, -58.851745, Some(85.80)) else {
        return;
    };
    let g = s[0].gimbal.expect("G.PRY");
    assert_eq!((g.pitch_deg, g.roll_deg, g.yaw_deg), (-24.4, 0.0, 110.4));
    check("p4p_sample.SRT", 3, 47.4692, 8.2090, Some(45.60));
    check("mavic_mini.SRT", 100, 48.0771, -121.7458, Some(200.70));
    let s = check(
        "mix_p4rtk_mavic2pro.srt",
        5,
        -34.650200,
        -59.409424,
        Some(17.39),
    )
    .unwrap();
    assert!((s[0].t_s - 904.904).abs() < 1e-6);
    // The file joins a P4 RTK flight (heights) and a Mavic 2 Pro one (absolute altitude only).
    let split = s.iter().position(|x| x.height_m.is_none()).unwrap();
    assert_eq!(split, 6);
    assert!((s[split].abs_alt_m.unwrap() - 120.060997).abs() < 1e-9);
    let tl = PoseTimeline::new(&s[..split], &PoseDefaults::default()).unwrap();
    let p = tl.at(905.4045, 0.0).unwrap();
    assert!((p.pitch_deg - (-28.55)).abs() < 1e-6, "{p:?}");
}

#[test]
fn broken_files_give_clear_errors() {
    let Some(empty) = read("broken_empty.SRT") else {
        return;
    };
    assert!(matches!(
        empty,
        Err(TelemetryError::Srt(argus_core::srt::SrtError::Empty))
    ));
    let err = read("broken_incomplete.SRT").unwrap().unwrap_err();
    assert!(err.to_string().contains("line"), "{err}");
    // Camera settings only, no position: refused, saying so.
    let err = read("mavic_air.SRT").unwrap().unwrap_err();
    assert!(matches!(err, TelemetryError::NoPosition { .. }), "{err}");
    assert!(err.to_string().contains("position"));
}
