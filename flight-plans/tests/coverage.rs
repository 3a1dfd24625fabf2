//! Coverage: sweeps cover what they are asked to, with the spacing the camera needs, and never
//! sweep across a concave gap. (The simulator's districts are covered in `sim/tests/plans.rs`.)

use argus_flightplan::camera::{Camera, CameraSpec};
use argus_flightplan::coverage::{
    Sweep, SweepOptions, corridor, corridor_area, covered_share, footprint, sweep,
};
use geo::{Area, Contains, Coord, Distance, Euclidean, LineString, Point, Polygon, Rotate};

const ALT: f64 = 100.0;
const OVERLAP: f64 = 0.2;

fn sim_camera() -> Camera {
    CameraSpec {
        preset: Some("sim-1080p".into()),
        ..CameraSpec::default()
    }
    .camera()
    .unwrap()
}

fn poly(pts: &[(f64, f64)]) -> Polygon {
    Polygon::new(LineString::from(pts.to_vec()), vec![])
}

/// 800 × 500 m.
fn rectangle() -> Polygon {
    poly(&[(0.0, 0.0), (800.0, 0.0), (800.0, 500.0), (0.0, 500.0)])
}

/// A regular hexagon 800 m across, turned 17°.
fn hexagon() -> Polygon {
    poly(
        &(0..6)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 6.0;
                (400.0 * a.cos(), 400.0 * a.sin())
            })
            .collect::<Vec<_>>(),
    )
    .rotate_around_centroid(17.0)
}

/// An L: a 900 m square less its 600 m upper-right square.
fn l_shape() -> Polygon {
    poly(&[
        (0.0, 0.0),
        (900.0, 0.0),
        (900.0, 300.0),
        (300.0, 300.0),
        (300.0, 900.0),
        (0.0, 900.0),
    ])
}

fn opts(cam: &Camera, evenly: bool) -> SweepOptions {
    SweepOptions {
        swath_m: cam.swath_m(ALT),
        spacing_m: cam.spacing_m(ALT, OVERLAP),
        bearing_deg: None,
        turnaround_m: 20.0,
        evenly,
        entry: None,
        frontal_m: Some(cam.frontal_m(ALT)),
        end_inset_m: cam.frontal_m(ALT) / 2.0,
    }
}

/// The footprints along the transects (camera on only along them).
fn coverage(area: &Polygon, s: &Sweep, cam: &Camera) -> f64 {
    let mut cover = geo::MultiPolygon::new(vec![]);
    for t in &s.transects {
        use geo::BooleanOps;
        cover = cover.union(&footprint(
            &[t.from, t.to],
            cam.swath_m(ALT),
            cam.frontal_m(ALT),
        ));
    }
    covered_share(area, &cover)
}

/// Offsets across the bearing of each transect, sorted and deduplicated: the lines.
fn line_offsets(s: &Sweep) -> Vec<f64> {
    let (sn, cs) = s.bearing_deg.to_radians().sin_cos();
    let mut v: Vec<f64> = s
        .transects
        .iter()
        .map(|t| t.from.x * cs - t.from.y * sn)
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    v
}

fn check_spacing(s: &Sweep, cam: &Camera, exact: bool) {
    let max = cam.spacing_m(ALT, OVERLAP);
    for w in line_offsets(s).windows(2) {
        let gap = w[1] - w[0];
        assert!(gap <= max + 1e-6, "lines {gap} m apart, more than {max}");
        if exact {
            assert!((gap - max).abs() < 1e-6, "lines {gap} m apart, not {max}");
        }
    }
}

fn bound(area: &Polygon, s: &Sweep) -> f64 {
    area.unsigned_area() / s.spacing_m + (s.lines as f64 - 1.0) * s.spacing_m
}

#[test]
fn qgroundcontrols_worked_example() {
    let cam = CameraSpec {
        sensor_mm: Some([17.3, 13.0]),
        focal_mm: Some(12.29),
        image_px: Some([3840, 2160]),
        ..CameraSpec::default()
    }
    .camera()
    .unwrap();
    assert!(
        (cam.gsd_cm(100.0) - 3.67).abs() < 0.005,
        "{}",
        cam.gsd_cm(100.0)
    );
    assert!(
        (cam.swath_m(100.0) - 141.0).abs() < 0.5,
        "{}",
        cam.swath_m(100.0)
    );
}

#[test]
fn convex_areas_are_covered_within_the_path_bound() {
    let cam = sim_camera();
    let rect = rectangle();
    let hexagon = hexagon();
    for (name, area) in [("rectangle", rect), ("hexagon", hexagon)] {
        for evenly in [false, true] {
            let s = sweep(&area, &opts(&cam, evenly)).unwrap();
            let share = coverage(&area, &s, &cam);
            assert!(share >= 0.99, "{name}: {share}");
            check_spacing(&s, &cam, !evenly);
            if !evenly {
                let ratio = s.path_m() / bound(&area, &s);
                assert!(
                    ratio <= 1.15,
                    "{name}: path {} is {ratio}× the bound",
                    s.path_m()
                );
            }
        }
    }
}

#[test]
fn a_long_rectangle_is_swept_along_its_long_side() {
    let cam = sim_camera();
    // 1200 × 600 m, turned 30° (its long side bears 60° from north).
    let r = poly(&[(0.0, 0.0), (1200.0, 0.0), (1200.0, 600.0), (0.0, 600.0)])
        .rotate_around_point(30.0, Point::new(0.0, 0.0));
    let s = sweep(&r, &opts(&cam, false)).unwrap();
    // A counter-clockwise turn of 30° from east: bearing 60°.
    assert!((s.bearing_deg - 60.0).abs() < 1e-6, "{}", s.bearing_deg);
    assert!(coverage(&r, &s, &cam) >= 0.99);
    // Asked for another angle, it flies that one.
    let across = sweep(
        &r,
        &SweepOptions {
            bearing_deg: Some(150.0),
            ..opts(&cam, false)
        },
    )
    .unwrap();
    assert!((across.bearing_deg - 150.0).abs() < 1e-9);
    assert!(across.lines > s.lines);
}

#[test]
fn lines_end_where_the_camera_sees_the_edge() {
    let cam = sim_camera();
    let half = cam.frontal_m(ALT) / 2.0;
    let rect = rectangle();
    let hexagon = hexagon();
    let full = |o: SweepOptions| SweepOptions {
        end_inset_m: 0.0,
        ..o
    };
    // Across a rectangle's short side, every line is a footprint shorter: half at each end.
    let o = SweepOptions {
        bearing_deg: Some(90.0),
        ..opts(&cam, false)
    };
    let (inset, whole) = (sweep(&rect, &o).unwrap(), sweep(&rect, &full(o)).unwrap());
    assert_eq!(inset.transects.len(), whole.transects.len());
    for (a, b) in inset.transects.iter().zip(&whole.transects) {
        assert!(
            (b.length_m() - a.length_m() - 2.0 * half).abs() < 1e-6,
            "{} m against {} m",
            a.length_m(),
            b.length_m()
        );
    }
    // What the camera sees is the same, on slanted edges and concave corners too.
    let l = l_shape();
    for (name, area) in [("rectangle", rect), ("hexagon", hexagon), ("L", l)] {
        for bearing in [None, Some(33.0)] {
            let o = SweepOptions {
                bearing_deg: bearing,
                ..opts(&cam, false)
            };
            let (inset, whole) = (sweep(&area, &o).unwrap(), sweep(&area, &full(o)).unwrap());
            let (seen, seen_whole) = (coverage(&area, &inset, &cam), coverage(&area, &whole, &cam));
            assert!(
                seen >= seen_whole - 1e-4 && seen >= 0.99,
                "{name} at {bearing:?}: {seen} covered against {seen_whole}"
            );
            assert!(
                inset.path_m() < whole.path_m(),
                "{name} at {bearing:?}: {} m against {} m",
                inset.path_m(),
                whole.path_m()
            );
        }
    }
}

/// Whether a point is within `d` metres of the polygon.
fn near(area: &Polygon, p: Coord, d: f64) -> bool {
    let p = Point::from(p);
    area.contains(&p) || Euclidean.distance(&p, area.exterior()) <= d + 1e-6
}

#[test]
fn concave_areas_are_covered_without_sweeping_their_gaps() {
    let cam = sim_camera();
    let spacing = cam.spacing_m(ALT, OVERLAP);
    let l = l_shape();
    // A U whose notch is 600 m deep: more than two line spacings.
    let notch = 600.0;
    assert!(notch > 2.0 * spacing);
    let u = poly(&[
        (0.0, 0.0),
        (900.0, 0.0),
        (900.0, 900.0),
        (600.0, 900.0),
        (600.0, 900.0 - notch),
        (300.0, 900.0 - notch),
        (300.0, 900.0),
        (0.0, 900.0),
    ]);
    for (name, area) in [("L", l), ("U", u)] {
        for bearing in [None, Some(0.0), Some(90.0), Some(33.0)] {
            let s = sweep(
                &area,
                &SweepOptions {
                    bearing_deg: bearing,
                    ..opts(&cam, false)
                },
            )
            .unwrap();
            let share = coverage(&area, &s, &cam);
            assert!(share >= 0.99, "{name} at {bearing:?}: {share}");
            // Fill lines at concave corners only ever bring lines closer.
            check_spacing(&s, &cam, false);
            // No transect leaves the polygon by more than the turnaround.
            for t in &s.transects {
                for k in 0..=100 {
                    let f = k as f64 / 100.0;
                    let p = Coord {
                        x: t.from.x + (t.to.x - t.from.x) * f,
                        y: t.from.y + (t.to.y - t.from.y) * f,
                    };
                    assert!(
                        near(&area, p, 20.0),
                        "{name} at {bearing:?}: {p:?} is outside"
                    );
                }
            }
        }
    }
}

#[test]
fn a_corridor_is_covered_by_as_many_passes_as_its_width_needs() {
    let cam = sim_camera();
    let street = LineString::from(vec![
        (0.0, 0.0),
        (400.0, 30.0),
        (700.0, 300.0),
        (700.0, 800.0),
    ]);
    for width in [60.0, 300.0] {
        let passes = corridor(
            &street,
            width,
            cam.swath_m(ALT),
            cam.spacing_m(ALT, OVERLAP),
            20.0,
        )
        .unwrap();
        // One pass when the swath spans the width; else enough for the edges to be in view.
        let expected = if width <= cam.swath_m(ALT) {
            1
        } else {
            ((width - cam.swath_m(ALT)) / cam.spacing_m(ALT, OVERLAP)).ceil() as usize + 1
        };
        assert_eq!(passes.len(), expected, "width {width}");
        let mut cover = geo::MultiPolygon::new(vec![]);
        for p in &passes {
            use geo::BooleanOps;
            cover = cover.union(&footprint(p, cam.swath_m(ALT), cam.frontal_m(ALT)));
        }
        let area = corridor_area(&street, width);
        let inside = area.intersection_share(&cover);
        assert!(inside >= 0.99, "width {width}: {inside}");
    }
}

trait Share {
    fn intersection_share(&self, cover: &geo::MultiPolygon) -> f64;
}

impl Share for geo::MultiPolygon {
    fn intersection_share(&self, cover: &geo::MultiPolygon) -> f64 {
        use geo::BooleanOps;
        self.intersection(cover).unsigned_area() / self.unsigned_area()
    }
}

#[test]
fn nonsense_sizes_are_refused() {
    let cam = sim_camera();
    let r = poly(&[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)]);
    for bad in [f64::NAN, 0.0, -5.0, f64::INFINITY] {
        let e = sweep(
            &r,
            &SweepOptions {
                spacing_m: bad,
                ..opts(&cam, false)
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("spacing"), "{e}");
    }
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let e = sweep(
            &r,
            &SweepOptions {
                end_inset_m: bad,
                ..opts(&cam, false)
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("end inset"), "{e}");
    }
    let e = sweep(
        &poly(&[(0.0, 0.0), (1e7, 0.0), (1e7, 1e7), (0.0, 1e7)]),
        &SweepOptions {
            spacing_m: 1.0,
            ..opts(&cam, false)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("lines"), "{e}");
}
