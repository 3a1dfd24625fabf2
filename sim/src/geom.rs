//! Planar geometry on local east/north metres: polygons as open rings of `[x, y]`. The
//! algorithms are the `geo` crate's (through the core's ring adapters); this module builds the
//! simulator's shapes and keeps its rings in the plain form the district and renderer use.

use geo::{BoundingRect, ConvexHull, Coord, Intersects, MultiPoint};

/// A point of the ground plane, local metres (east, north).
pub type P2 = [f64; 2];

/// An axis-aligned rectangle as a counter-clockwise ring.
pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<P2> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
}

/// A rectangle of `length` × `width` centred on `c`, its length along `yaw` (radians, clockwise
/// from north, as headings are), counter-clockwise.
pub fn oriented_rect(c: P2, length: f64, width: f64, yaw: f64) -> Vec<P2> {
    let (s, co) = yaw.sin_cos();
    let along = [s, co]; // heading direction: east = sin, north = cos
    let across = [co, -s];
    let (hl, hw) = (length / 2.0, width / 2.0);
    let corner = |a: f64, b: f64| {
        [
            c[0] + along[0] * a + across[0] * b,
            c[1] + along[1] * a + across[1] * b,
        ]
    };
    let mut ring = vec![
        corner(-hl, -hw),
        corner(-hl, hw),
        corner(hl, hw),
        corner(hl, -hw),
    ];
    if signed_area(&ring) < 0.0 {
        ring.reverse();
    }
    ring
}

/// A regular `n`-gon of radius `r` centred on `c`, counter-clockwise, rotated by `phase` radians.
pub fn ngon(c: P2, r: f64, n: usize, phase: f64) -> Vec<P2> {
    (0..n)
        .map(|i| {
            let a = phase + std::f64::consts::TAU * i as f64 / n as f64;
            [c[0] + r * a.cos(), c[1] + r * a.sin()]
        })
        .collect()
}

/// A ring as a polygon, its signed area and area centroid: the core's, which the agent's map
/// uses too.
pub use argus_core::map::{centroid, polygon, signed_area};

/// Whether `p` lies inside the polygon or on its edge.
pub fn contains(ring: &[P2], p: P2) -> bool {
    polygon(ring).intersects(&Coord::from(p))
}

/// Axis-aligned bounds `[min_x, min_y, max_x, max_y]` (`[MAX, MAX, MIN, MIN]` when empty).
pub fn bounds(ring: &[P2]) -> [f64; 4] {
    polygon(ring)
        .bounding_rect()
        .map_or([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b| {
            [b.min().x, b.min().y, b.max().x, b.max().y]
        })
}

/// The convex hull of a point set, counter-clockwise, without collinear points.
pub fn convex_hull(points: &[P2]) -> Vec<P2> {
    let hull = MultiPoint::from(points.to_vec()).convex_hull();
    let mut ring: Vec<P2> = hull.exterior().coords().map(|&c| c.into()).collect();
    ring.pop(); // the closing point: rings here are open
    ring
}

/// Rotates a point about the origin by `angle` radians counter-clockwise.
pub fn rotate(p: P2, angle: f64) -> P2 {
    let (s, c) = angle.sin_cos();
    [c * p[0] - s * p[1], s * p[0] + c * p[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_are_counter_clockwise_with_their_area() {
        let r = oriented_rect([10.0, 5.0], 4.0, 2.0, 0.7);
        assert!((signed_area(&r) - 8.0).abs() < 1e-9);
        let c = centroid(&r);
        assert!((c[0] - 10.0).abs() < 1e-9 && (c[1] - 5.0).abs() < 1e-9);
        assert!(contains(&r, [10.0, 5.0]) && !contains(&r, [13.0, 5.0]));
    }

    #[test]
    fn yaw_zero_puts_length_along_north() {
        let b = bounds(&oriented_rect([0.0, 0.0], 4.0, 2.0, 0.0));
        assert!((b[3] - b[1] - 4.0).abs() < 1e-9 && (b[2] - b[0] - 2.0).abs() < 1e-9);
    }

    #[test]
    fn hull_drops_inner_points() {
        let h = convex_hull(&[
            [0.0, 0.0],
            [2.0, 0.0],
            [1.0, 0.5],
            [2.0, 2.0],
            [0.0, 2.0],
            [1.0, 1.0],
        ]);
        assert_eq!(h.len(), 4);
        assert!((signed_area(&h) - 4.0).abs() < 1e-9);
    }
}
