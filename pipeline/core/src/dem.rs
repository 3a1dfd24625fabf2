//! A digital elevation model (DEM): terrain heights on a regular latitude/longitude grid, read
//! from a GeoTIFF, and the terrain surface rays are cast onto when the ground is not flat.
//!
//! GeoTIFFs in geographic coordinates (WGS84, EPSG:4326 — SRTM, Copernicus GLO-30, most city
//! DEM exports) with one band of integer or floating-point heights in metres are read; a
//! projected one is refused with the `gdalwarp` line that converts it. Heights between grid
//! posts are interpolated bilinearly; the no-data value (GDAL's tag) is a hole.

use std::path::Path;

use crate::geodesy::{GeoPoint, LocalFrame};
use crate::linalg::Vec3;

/// Terrain heights on a regular grid of latitude and longitude.
#[derive(Debug, Clone, PartialEq)]
pub struct Dem {
    /// Longitude of the first column's post, degrees.
    lon0: f64,
    /// Latitude of the first row's post (the northernmost), degrees.
    lat0: f64,
    /// Post spacing east and south, degrees (both positive).
    dlon: f64,
    dlat: f64,
    width: usize,
    height: usize,
    /// Row-major heights, metres; NaN where there is no data.
    z: Vec<f32>,
    min_z: f64,
    max_z: f64,
}

/// Why a DEM cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a TIFF, or one this reader cannot decode.
    #[error("{path}: not a readable TIFF: {message}")]
    Tiff {
        /// The file.
        path: String,
        /// The decoder's message.
        message: String,
    },
    /// A TIFF without (usable) georeferencing.
    #[error("{path}: {message}")]
    Georeference {
        /// The file.
        path: String,
        /// What is missing or unsupported, and what to do.
        message: String,
    },
    /// The grid itself is unusable.
    #[error("DEM: {0}")]
    Grid(String),
}

/// GeoTIFF tags (OGC GeoTIFF 1.1) and GDAL's no-data tag.
const MODEL_PIXEL_SCALE: u16 = 33550;
const MODEL_TIEPOINT: u16 = 33922;
const MODEL_TRANSFORMATION: u16 = 34264;
const GEO_KEY_DIRECTORY: u16 = 34735;
const GDAL_NODATA: u16 = 42113;
/// Geo keys: model type (1 projected, 2 geographic), raster type (1 area, 2 point), the
/// geographic CRS code.
const GT_MODEL_TYPE: u16 = 1024;
const GT_RASTER_TYPE: u16 = 1025;
const GEOGRAPHIC_TYPE: u16 = 2048;

impl Dem {
    /// A DEM from its grid: `heights` row by row from the north-west post at (`lat0`, `lon0`),
    /// posts `dlat` degrees apart southwards and `dlon` eastwards. NaN marks no data.
    pub fn new(
        lat0: f64,
        lon0: f64,
        dlat: f64,
        dlon: f64,
        width: usize,
        heights: Vec<f32>,
    ) -> Result<Self, DemError> {
        if width < 2 || heights.len() < 2 * width || !heights.len().is_multiple_of(width) {
            return Err(DemError::Grid(format!(
                "{} heights do not make a grid of at least 2 × 2 posts {width} wide",
                heights.len()
            )));
        }
        if !(dlat > 0.0 && dlon > 0.0 && dlat.is_finite() && dlon.is_finite()) {
            return Err(DemError::Grid(format!(
                "post spacing {dlat}° × {dlon}° is not positive"
            )));
        }
        let (mut min_z, mut max_z) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in heights.iter().filter(|v| v.is_finite()) {
            min_z = min_z.min(f64::from(v));
            max_z = max_z.max(f64::from(v));
        }
        if min_z > max_z {
            return Err(DemError::Grid("every post is no-data".into()));
        }
        Ok(Self {
            lon0,
            lat0,
            dlon,
            dlat,
            width,
            height: heights.len() / width,
            z: heights,
            min_z,
            max_z,
        })
    }

    /// A square-post DEM of `width` × `height` posts `step` degrees apart from the north-west
    /// post at (`lat0`, `lon0`), sampled from a height function (synthetic terrain).
    pub fn from_fn(
        lat0: f64,
        lon0: f64,
        step: f64,
        (width, height): (usize, usize),
        heights: impl Fn(GeoPoint) -> f64,
    ) -> Result<Self, DemError> {
        let mut z = Vec::with_capacity(width * height);
        for r in 0..height {
            for c in 0..width {
                z.push(heights(GeoPoint {
                    lat: lat0 - r as f64 * step,
                    lon: lon0 + c as f64 * step,
                }) as f32);
            }
        }
        Self::new(lat0, lon0, step, step, width, z)
    }

    /// Reads a GeoTIFF in geographic coordinates (see the module's notes).
    pub fn from_geotiff(path: &Path) -> Result<Self, DemError> {
        use tiff::decoder::{Decoder, DecodingResult};
        use tiff::tags::Tag;

        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| DemError::Read {
            path: name.clone(),
            source,
        })?;
        let tiff_err = |e: tiff::TiffError| DemError::Tiff {
            path: name.clone(),
            message: e.to_string(),
        };
        let geo_err = |message: String| DemError::Georeference {
            path: name.clone(),
            message,
        };
        let mut dec = Decoder::new(std::io::BufReader::new(file)).map_err(tiff_err)?;
        let (w, h) = dec.dimensions().map_err(tiff_err)?;
        let f64s = |dec: &mut Decoder<_>, tag: u16| -> Result<Option<Vec<f64>>, DemError> {
            match dec.find_tag(Tag::Unknown(tag)).map_err(tiff_err)? {
                None => Ok(None),
                Some(v) => v.into_f64_vec().map(Some).map_err(tiff_err),
            }
        };
        let keys: Vec<u16> = match dec
            .find_tag(Tag::Unknown(GEO_KEY_DIRECTORY))
            .map_err(tiff_err)?
        {
            Some(v) => v.into_u16_vec().map_err(tiff_err)?,
            None => Vec::new(),
        };
        let key = |id: u16| -> Option<u16> {
            // Header of 4 shorts, then entries (id, location, count, value); location 0 = inline.
            keys.get(4..)?
                .chunks_exact(4)
                .find(|e| e[0] == id && e[1] == 0)
                .map(|e| e[3])
        };
        let warp = "convert it with `gdalwarp -t_srs EPSG:4326 IN.tif OUT.tif`";
        match key(GT_MODEL_TYPE) {
            Some(2) => {}
            Some(1) => {
                return Err(geo_err(format!(
                    "the DEM is in a projected CRS; only geographic (WGS84 latitude/longitude) \
                     DEMs are read: {warp}"
                )));
            }
            other => {
                return Err(geo_err(format!(
                    "no geographic model type in the GeoTIFF keys (GTModelTypeGeoKey {other:?}); \
                     a DEM must be a GeoTIFF in WGS84 latitude/longitude: {warp}"
                )));
            }
        }
        if let Some(crs) = key(GEOGRAPHIC_TYPE).filter(|&c| c != 4326 && c != 32767) {
            return Err(geo_err(format!(
                "geographic CRS EPSG:{crs} is not WGS84 (EPSG:4326): {warp}"
            )));
        }
        if f64s(&mut dec, MODEL_TRANSFORMATION)?.is_some() {
            return Err(geo_err(format!(
                "a rotated or sheared grid (ModelTransformationTag) is not read: {warp}"
            )));
        }
        let scale = f64s(&mut dec, MODEL_PIXEL_SCALE)?
            .filter(|s| s.len() >= 2)
            .ok_or_else(|| {
                geo_err("no ModelPixelScaleTag: the TIFF is not georeferenced".into())
            })?;
        let tie = f64s(&mut dec, MODEL_TIEPOINT)?
            .filter(|t| t.len() >= 6)
            .ok_or_else(|| geo_err("no ModelTiepointTag: the TIFF is not georeferenced".into()))?;
        // Pixel-is-area (the default): the tie point is a pixel's corner, its post is at the
        // pixel's centre. Pixel-is-point: the tie point is the post itself.
        let centre = if key(GT_RASTER_TYPE) == Some(2) {
            0.0
        } else {
            0.5
        };
        let (dlon, dlat) = (scale[0], scale[1]);
        let lon0 = tie[3] + (centre - tie[0]) * dlon;
        let lat0 = tie[4] - (centre - tie[1]) * dlat;
        let nodata = dec
            .find_tag(Tag::Unknown(GDAL_NODATA))
            .map_err(tiff_err)?
            .and_then(|v| v.into_string().ok())
            .and_then(|s| s.trim_matches(char::from(0)).trim().parse::<f64>().ok());
        let heights: Vec<f32> = match dec.read_image().map_err(tiff_err)? {
            DecodingResult::F32(v) => v,
            DecodingResult::F64(v) => v.into_iter().map(|x| x as f32).collect(),
            DecodingResult::I16(v) => v.into_iter().map(f32::from).collect(),
            DecodingResult::U16(v) => v.into_iter().map(f32::from).collect(),
            DecodingResult::I32(v) => v.into_iter().map(|x| x as f32).collect(),
            DecodingResult::U8(v) => v.into_iter().map(f32::from).collect(),
            _ => {
                return Err(DemError::Tiff {
                    path: name,
                    message: "heights must be one band of 8-, 16- or 32-bit integers or floats"
                        .into(),
                });
            }
        };
        if heights.len() != w as usize * h as usize {
            return Err(DemError::Tiff {
                path: name,
                message: format!(
                    "{} samples for a {w} × {h} grid: a DEM has one band",
                    heights.len()
                ),
            });
        }
        let heights = heights
            .into_iter()
            .map(|v| {
                let hole = !v.is_finite() || nodata.is_some_and(|n| f64::from(v) == n);
                if hole { f32::NAN } else { v }
            })
            .collect();
        Self::new(lat0, lon0, dlat, dlon, w as usize, heights).map_err(|e| match e {
            DemError::Grid(m) => geo_err(m),
            e => e,
        })
    }

    /// Writes the grid as a float GeoTIFF in WGS84 latitude/longitude (pixel-is-point: each
    /// pixel is a post), no-data as −9999 — what [`Dem::from_geotiff`] and GDAL read.
    pub fn write_geotiff(&self, path: &Path) -> Result<(), DemError> {
        use tiff::encoder::{TiffEncoder, colortype};
        use tiff::tags::Tag;

        let name = path.display().to_string();
        let tiff_err = |e: tiff::TiffError| DemError::Tiff {
            path: name.clone(),
            message: e.to_string(),
        };
        let file = std::fs::File::create(path).map_err(|source| DemError::Read {
            path: name.clone(),
            source,
        })?;
        let mut enc = TiffEncoder::new(std::io::BufWriter::new(file)).map_err(tiff_err)?;
        let (w, h) = (self.width as u32, self.height as u32);
        let mut img = enc
            .new_image::<colortype::Gray32Float>(w, h)
            .map_err(tiff_err)?;
        let keys: [u16; 16] = [
            1,
            1,
            0,
            3, // version 1.1.0, three keys
            GT_MODEL_TYPE,
            0,
            1,
            2, // geographic
            GT_RASTER_TYPE,
            0,
            1,
            2, // pixel is point
            GEOGRAPHIC_TYPE,
            0,
            1,
            4326, // WGS84
        ];
        let tags = img.encoder();
        tags.write_tag(
            Tag::Unknown(MODEL_PIXEL_SCALE),
            &[self.dlon, self.dlat, 0.0][..],
        )
        .map_err(tiff_err)?;
        tags.write_tag(
            Tag::Unknown(MODEL_TIEPOINT),
            &[0.0, 0.0, 0.0, self.lon0, self.lat0, 0.0][..],
        )
        .map_err(tiff_err)?;
        tags.write_tag(Tag::Unknown(GEO_KEY_DIRECTORY), &keys[..])
            .map_err(tiff_err)?;
        tags.write_tag(Tag::Unknown(GDAL_NODATA), "-9999")
            .map_err(tiff_err)?;
        let z: Vec<f32> = self
            .z
            .iter()
            .map(|&v| if v.is_finite() { v } else { -9999.0 })
            .collect();
        img.write_data(&z).map_err(tiff_err)
    }

    /// Lowest and highest height in the grid, metres.
    pub fn range(&self) -> (f64, f64) {
        (self.min_z, self.max_z)
    }

    /// Post spacing north-south, metres (for choosing a step along a ray).
    pub fn spacing_m(&self) -> f64 {
        self.dlat * 111_320.0
    }

    /// The terrain height at a point, interpolated between the four posts around it; `None`
    /// outside the grid or next to a no-data post.
    pub fn height_at(&self, p: GeoPoint) -> Option<f64> {
        let fx = (p.lon - self.lon0) / self.dlon;
        let fy = (self.lat0 - p.lat) / self.dlat;
        let (w, h) = (self.width as f64 - 1.0, self.height as f64 - 1.0);
        // A point on the grid's edge is on it, whatever the last bit of the division says.
        const EDGE: f64 = 1e-6;
        if !(fx >= -EDGE && fy >= -EDGE && fx <= w + EDGE && fy <= h + EDGE) {
            return None;
        }
        let (fx, fy) = (fx.clamp(0.0, w), fy.clamp(0.0, h));
        let (x0, y0) = (
            (fx as usize).min(self.width - 2),
            (fy as usize).min(self.height - 2),
        );
        let (ax, ay) = (fx - x0 as f64, fy - y0 as f64);
        // Posts of (next to) no weight do not count: a point on a hole's edge is defined.
        let mut v = 0.0;
        for (x, y, wt) in [
            (x0, y0, (1.0 - ax) * (1.0 - ay)),
            (x0 + 1, y0, ax * (1.0 - ay)),
            (x0, y0 + 1, (1.0 - ax) * ay),
            (x0 + 1, y0 + 1, ax * ay),
        ] {
            if wt > 1e-9 {
                v += wt * f64::from(self.z[y * self.width + x]);
            }
        }
        v.is_finite().then_some(v)
    }
}

/// The terrain in a local frame: a DEM whose height `reference_m` is the frame's z = 0 (the
/// ground the telemetry's heights are measured from: the take-off point's terrain height).
#[derive(Debug, Clone, Copy)]
pub struct Terrain<'a> {
    /// The heights.
    pub dem: &'a Dem,
    /// The frame rays are cast in.
    pub frame: &'a LocalFrame,
    /// The DEM height of the frame's z = 0, metres.
    pub reference_m: f64,
}

impl Terrain<'_> {
    /// The terrain's z at local east/north, metres; `None` off the DEM or in a hole.
    pub fn z(&self, east: f64, north: f64) -> Option<f64> {
        Some(self.dem.height_at(self.frame.ground_to_geo(east, north))? - self.reference_m)
    }

    /// Where the ray from `origin` along `dir` first meets the terrain: marched in steps of a
    /// quarter of the post spacing (at most 1 m) between the DEM's highest and lowest heights,
    /// then bisected to a millimetre. `None` when it leaves the DEM, crosses a hole or points
    /// above every height first.
    pub fn cast(&self, origin: Vec3, dir: Vec3) -> Option<Vec3> {
        let dir = dir.normalized();
        let (lo, hi) = self.dem.range();
        let (floor, ceiling) = (lo - self.reference_m, hi - self.reference_m);
        if dir.z >= 0.0 || origin.z <= floor {
            return None;
        }
        // The ray can meet the terrain only between the highest and the lowest height: march
        // from where it comes down to the one until it passes the other.
        let t_start = ((ceiling + 0.01 - origin.z) / dir.z).max(0.0);
        let t_end = (floor - origin.z) / dir.z;
        let step = (self.dem.spacing_m() / 4.0).clamp(0.05, 1.0);
        let above = |t: f64| -> Option<bool> {
            let p = origin + dir * t;
            Some(p.z > self.z(p.x, p.y)?)
        };
        let (mut t0, mut t1) = (t_start, t_start);
        if !above(t_start)? {
            return None; // the camera is under the terrain
        }
        while t1 < t_end {
            t1 = (t0 + step).min(t_end);
            if !above(t1)? {
                break;
            }
            t0 = t1;
        }
        if above(t1)? {
            return None;
        }
        while t1 - t0 > 1e-3 {
            let mid = (t0 + t1) / 2.0;
            if above(mid)? {
                t0 = mid;
            } else {
                t1 = mid;
            }
        }
        let p = origin + dir * t1;
        Some(Vec3::new(p.x, p.y, self.z(p.x, p.y)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 0.002° grid (~220 m × 190 m) whose height rises 10 m per 100 m eastwards from 50 m.
    pub(crate) fn slope(frame: &LocalFrame) -> Dem {
        Dem::from_fn(30.701, 120.999, 0.00005, (41, 41), |p| {
            50.0 + 0.1 * frame.geo_to_ground(p).0
        })
        .unwrap()
    }

    #[test]
    fn heights_between_posts_are_bilinear_and_none_outside() {
        let dem = Dem::new(1.0, 10.0, 0.5, 0.5, 2, vec![0.0, 10.0, 20.0, 30.0]).unwrap();
        let at = |lat, lon| dem.height_at(GeoPoint { lat, lon });
        assert_eq!(at(1.0, 10.0), Some(0.0));
        assert_eq!(at(0.5, 10.5), Some(30.0));
        assert_eq!(at(0.75, 10.25), Some(15.0));
        assert_eq!(at(1.0, 10.25), Some(5.0));
        assert_eq!(at(1.01, 10.25), None);
        assert_eq!(at(0.75, 10.6), None);
        let holed = Dem::new(1.0, 10.0, 0.5, 0.5, 2, vec![0.0, f32::NAN, 20.0, 30.0]).unwrap();
        assert_eq!(
            holed.height_at(GeoPoint {
                lat: 0.75,
                lon: 10.25
            }),
            None
        );
        assert_eq!(holed.range(), (0.0, 30.0));
    }

    #[test]
    fn bad_grids_are_refused() {
        assert!(Dem::new(1.0, 10.0, 0.5, 0.5, 2, vec![0.0; 3]).is_err());
        assert!(Dem::new(1.0, 10.0, -0.5, 0.5, 2, vec![0.0; 4]).is_err());
        let e = Dem::new(1.0, 10.0, 0.5, 0.5, 2, vec![f32::NAN; 4]).unwrap_err();
        assert!(e.to_string().contains("no-data"), "{e}");
    }

    #[test]
    fn an_oblique_ray_meets_the_slope_where_it_really_is() {
        let frame = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.0,
        });
        let dem = slope(&frame);
        // Heights are measured from the origin's terrain (50 m).
        let terrain = Terrain {
            dem: &dem,
            frame: &frame,
            reference_m: 50.0,
        };
        // A point on the slope 40 m east (4 m up) seen from 100 m up, 60 m west of it.
        let target = Vec3::new(40.0, 10.0, 4.0);
        let origin = Vec3::new(-20.0, 10.0, 100.0);
        let hit = terrain.cast(origin, target - origin).unwrap();
        assert!((hit - target).norm() < 0.01, "{hit:?}");
        // A ray that leaves the DEM before meeting it, and one pointing up, meet nothing.
        assert_eq!(terrain.cast(origin, Vec3::new(1.0, 0.0, -0.01)), None);
        assert_eq!(terrain.cast(origin, Vec3::new(1.0, 0.0, 0.1)), None);
    }

    /// Writes a one-band float GeoTIFF of `z` (`w` wide) with the given geo keys, tie point and
    /// scale, and GDAL's no-data tag.
    fn write_geotiff(path: &Path, w: u32, z: &[f32], keys: &[u16], tie: [f64; 6], scale: f64) {
        use tiff::encoder::{TiffEncoder, colortype};
        let file = std::fs::File::create(path).unwrap();
        let mut enc = TiffEncoder::new(file).unwrap();
        let mut img = enc
            .new_image::<colortype::Gray32Float>(w, z.len() as u32 / w)
            .unwrap();
        let t = img.encoder();
        t.write_tag(Tag::Unknown(MODEL_PIXEL_SCALE), &[scale, scale, 0.0][..])
            .unwrap();
        t.write_tag(Tag::Unknown(MODEL_TIEPOINT), &tie[..]).unwrap();
        t.write_tag(Tag::Unknown(GEO_KEY_DIRECTORY), keys).unwrap();
        t.write_tag(Tag::Unknown(GDAL_NODATA), "-9999").unwrap();
        img.write_data(z).unwrap();
    }

    use tiff::tags::Tag;

    /// Geo keys: version 1.1.0, then geographic model, pixel-is-area, WGS84.
    const WGS84_KEYS: [u16; 16] = [
        1,
        1,
        0,
        3,
        GT_MODEL_TYPE,
        0,
        1,
        2,
        GT_RASTER_TYPE,
        0,
        1,
        1,
        GEOGRAPHIC_TYPE,
        0,
        1,
        4326,
    ];

    #[test]
    fn a_geographic_geotiff_is_read_with_its_posts_at_pixel_centres() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dem.tif");
        // 3 × 2 pixels of 0.001°, the north-west corner at 30.702 N 120.998 E.
        let z = [10.0, 20.0, 30.0, 40.0, -9999.0, 60.0];
        write_geotiff(
            &path,
            3,
            &z,
            &WGS84_KEYS,
            [0.0, 0.0, 0.0, 120.998, 30.702, 0.0],
            0.001,
        );
        let dem = Dem::from_geotiff(&path).unwrap();
        let at = |lat, lon| dem.height_at(GeoPoint { lat, lon });
        // The first pixel's centre is half a pixel in from the corner.
        assert!((at(30.7015, 120.9985).unwrap() - 10.0).abs() < 1e-9);
        let v = at(30.7015, 120.999).unwrap();
        assert!((v - 15.0).abs() < 1e-6, "{v}");
        // The last post, on the grid's edge.
        assert!((at(30.7015, 121.0005).unwrap() - 30.0).abs() < 1e-6);
        // Next to the no-data post: a hole.
        assert_eq!(at(30.701, 120.9995), None);
        assert_eq!(dem.range(), (10.0, 60.0));
    }

    #[test]
    fn a_written_dem_reads_back_post_for_post() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slope.tif");
        let frame = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.0,
        });
        let mut dem = slope(&frame);
        dem.z[5] = f32::NAN;
        dem.write_geotiff(&path).unwrap();
        let back = Dem::from_geotiff(&path).unwrap();
        assert_eq!((back.width, back.height), (dem.width, dem.height));
        assert!((back.lat0 - dem.lat0).abs() < 1e-12 && (back.lon0 - dem.lon0).abs() < 1e-12);
        assert!(back.z[5].is_nan());
        for p in [(30.7, 121.0), (30.7003, 120.9994), (30.6991, 121.0009)] {
            let p = GeoPoint { lat: p.0, lon: p.1 };
            assert_eq!(back.height_at(p), dem.height_at(p));
        }
    }

    #[test]
    fn a_projected_or_plain_tiff_is_refused_saying_how_to_convert_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utm.tif");
        let mut keys = WGS84_KEYS;
        keys[7] = 1; // projected
        let z = [0.0_f32; 4];
        write_geotiff(
            &path,
            2,
            &z,
            &keys,
            [0.0, 0.0, 0.0, 350_000.0, 3_400_000.0, 0.0],
            1.0,
        );
        let e = Dem::from_geotiff(&path).unwrap_err().to_string();
        assert!(
            e.contains("projected") && e.contains("gdalwarp -t_srs EPSG:4326"),
            "{e}"
        );
        assert!(e.starts_with(&path.display().to_string()), "{e}");

        let plain = dir.path().join("plain.tif");
        let file = std::fs::File::create(&plain).unwrap();
        tiff::encoder::TiffEncoder::new(file)
            .unwrap()
            .write_image::<tiff::encoder::colortype::Gray32Float>(2, 2, &z)
            .unwrap();
        let e = Dem::from_geotiff(&plain).unwrap_err().to_string();
        assert!(e.contains("WGS84 latitude/longitude"), "{e}");

        let junk = dir.path().join("junk.tif");
        std::fs::write(&junk, b"not a tiff at all").unwrap();
        let e = Dem::from_geotiff(&junk).unwrap_err().to_string();
        assert!(e.contains("not a readable TIFF"), "{e}");
        let e = Dem::from_geotiff(&dir.path().join("missing.tif")).unwrap_err();
        assert!(matches!(e, DemError::Read { .. }), "{e}");
    }
}
