//! DJI WPML KMZ (formats.md §2): a zip holding `wpmz/template.kml` (the editable template:
//! `waypoint`, `mapping2d` over the area's polygon, or `mappingStrip` along a corridor's line)
//! and `wpmz/waylines.wpml` (what the aircraft flies: `missionConfig`, one `Folder` with a
//! Placemark per waypoint, its `executeHeight`, speed, heading and turn, and its gimbal and
//! hover actions).
//!
//! Written with namespace `http://www.dji.com/wpmz/1.0.6`; any `1.0.x` is read (by prefix).
//! Heights are `relativeToStartPoint`; `takeOffRefPoint` is `lat,lon,alt` (the opposite order
//! of KML `coordinates`, which are `lon,lat`). Absolute (`WGS84`, `EGM96`) heights are read
//! against `takeOffRefPoint`.

use std::fmt::Write as _;
use std::io::{Cursor, Read as _, Write as _};

use super::FormatError;
use super::xml::{self, Node};
use crate::mission::{Action, Home, Mission, Template, Waypoint};

/// The WPML namespace written.
pub const NAMESPACE: &str = "http://www.dji.com/wpmz/1.0.6";
/// Namespaces read: any `1.0.x`.
pub const NAMESPACE_PREFIX: &str = "http://www.dji.com/wpmz/1.0.";
/// The KML namespace.
pub const KML_NAMESPACE: &str = "http://www.opengis.net/kml/2.2";
/// Largest uncompressed entry read, bytes.
pub const MAX_ENTRY: u64 = 64 << 20;
/// DJI drone enum written: Mavic 3 Enterprise series (77), the docked M3D/M3TD family's
/// sibling that DJI's own samples use; the dock's model overrides nothing the file flies.
pub const DRONE_ENUM: (u32, u32) = (77, 0);
/// DJI payload enum written: the M3E camera (66).
pub const PAYLOAD_ENUM: u32 = 66;

/// A KMZ's fingerprint: its MD5 in lower-case hex, as DJI's Cloud API Demo computes a
/// wayline's `sign` and as `flighttask_prepare` carries it (`file.fingerprint`). The cloud
/// computes it when it publishes a wayline, the dock when it downloads one.
///
/// ```
/// assert_eq!(
///     argus_flightplan::formats::wpml::fingerprint(b"The quick brown fox jumps over the lazy dog"),
///     "9e107d9d372bb6826bd81d3542a419d6"
/// );
/// ```
pub fn fingerprint(kmz: &[u8]) -> String {
    use md5::Digest as _;
    // md-5 0.11's digest has no `LowerHex` (sha2 0.10's has).
    md5::Md5::digest(kmz)
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The `createTime` / `updateTime` written: none known (0), so a mission's KMZ is the same bytes
/// whenever it is written, and its MD5 (the dock's fingerprint and render cache key) holds across
/// triage restarts.
const WRITTEN_AT_MS: u64 = 0;

fn mission_config(m: &Mission, out: &mut String) {
    let _ = write!(
        out,
        "    <wpml:missionConfig>
      <wpml:flyToWaylineMode>safely</wpml:flyToWaylineMode>
      <wpml:finishAction>goHome</wpml:finishAction>
      <wpml:exitOnRCLost>executeLostAction</wpml:exitOnRCLost>
      <wpml:executeRCLostAction>goBack</wpml:executeRCLostAction>
      <wpml:takeOffSecurityHeight>20</wpml:takeOffSecurityHeight>
      <wpml:takeOffRefPoint>{:.10},{:.10},{:.3}</wpml:takeOffRefPoint>
      <wpml:takeOffRefPointAGLHeight>0</wpml:takeOffRefPointAGLHeight>
      <wpml:globalTransitionalSpeed>{}</wpml:globalTransitionalSpeed>
      <wpml:globalRTHHeight>{}</wpml:globalRTHHeight>
      <wpml:droneInfo>
        <wpml:droneEnumValue>{}</wpml:droneEnumValue>
        <wpml:droneSubEnumValue>{}</wpml:droneSubEnumValue>
      </wpml:droneInfo>
      <wpml:payloadInfo>
        <wpml:payloadEnumValue>{PAYLOAD_ENUM}</wpml:payloadEnumValue>
        <wpml:payloadSubEnumValue>0</wpml:payloadSubEnumValue>
        <wpml:payloadPositionIndex>0</wpml:payloadPositionIndex>
      </wpml:payloadInfo>
    </wpml:missionConfig>
",
        m.home.lat,
        m.home.lon,
        m.home.elevation_m,
        m.speed_mps,
        m.rth_altitude_m,
        DRONE_ENUM.0,
        DRONE_ENUM.1,
    );
}

fn header(out: &mut String) {
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"{KML_NAMESPACE}\" xmlns:wpml=\"{NAMESPACE}\">\n  <Document>\n"
    );
}

fn coords(pts: &[[f64; 2]], close: bool) -> String {
    let mut s = String::new();
    let mut all: Vec<[f64; 2]> = pts.to_vec();
    if close && pts.first() != pts.last() {
        all.extend(pts.first());
    }
    for p in all {
        let _ = write!(s, "{:.10},{:.10},0 ", p[1], p[0]);
    }
    s.trim_end().to_string()
}

/// `wpmz/template.kml`.
fn template(m: &Mission) -> String {
    let mut out = String::new();
    header(&mut out);
    let now = WRITTEN_AT_MS;
    let _ = write!(
        out,
        "    <wpml:author>Argus</wpml:author>\n    <wpml:createTime>{now}</wpml:createTime>\n    <wpml:updateTime>{now}</wpml:updateTime>\n"
    );
    mission_config(m, &mut out);
    let height = m.waypoints.first().map_or(100.0, |w| w.height_m);
    let kind = match m.template {
        Template::Waypoints => "waypoint",
        Template::Area { .. } => "mapping2d",
        Template::Corridor { .. } => "mappingStrip",
    };
    let _ = write!(
        out,
        "    <Folder>
      <wpml:templateType>{kind}</wpml:templateType>
      <wpml:templateId>0</wpml:templateId>
      <wpml:waylineCoordinateSysParam>
        <wpml:coordinateMode>WGS84</wpml:coordinateMode>
        <wpml:heightMode>relativeToStartPoint</wpml:heightMode>
        <wpml:positioningType>GPS</wpml:positioningType>{}
      </wpml:waylineCoordinateSysParam>
      <wpml:autoFlightSpeed>{}</wpml:autoFlightSpeed>
",
        // Mapping templates: the shooting height and no terrain following ("Coordinate
        // Parameter Info").
        if matches!(m.template, Template::Waypoints) {
            String::new()
        } else {
            format!(
                "\n        <wpml:globalShootHeight>{height}</wpml:globalShootHeight>\n        <wpml:surfaceFollowModeEnable>0</wpml:surfaceFollowModeEnable>"
            )
        },
        m.speed_mps
    );
    match &m.template {
        Template::Waypoints => {
            let _ = write!(
                out,
                "      <wpml:globalHeight>{height}</wpml:globalHeight>
      <wpml:caliFlightEnable>0</wpml:caliFlightEnable>
      <wpml:gimbalPitchMode>manual</wpml:gimbalPitchMode>
      <wpml:globalWaypointHeadingParam>
        <wpml:waypointHeadingMode>followWayline</wpml:waypointHeadingMode>
      </wpml:globalWaypointHeadingParam>
      <wpml:globalWaypointTurnMode>toPointAndStopWithDiscontinuityCurvature</wpml:globalWaypointTurnMode>
      <wpml:globalUseStraightLine>1</wpml:globalUseStraightLine>
"
            );
            for (i, w) in m.waypoints.iter().enumerate() {
                let _ = write!(
                    out,
                    "      <Placemark>
        <Point>
          <coordinates>{:.10},{:.10}</coordinates>
        </Point>
        <wpml:index>{i}</wpml:index>
        <wpml:ellipsoidHeight>{}</wpml:ellipsoidHeight>
        <wpml:height>{}</wpml:height>
        <wpml:useGlobalHeight>0</wpml:useGlobalHeight>
        <wpml:useGlobalSpeed>1</wpml:useGlobalSpeed>
        <wpml:useGlobalHeadingParam>1</wpml:useGlobalHeadingParam>
        <wpml:useGlobalTurnParam>1</wpml:useGlobalTurnParam>
        <wpml:useStraightLine>1</wpml:useStraightLine>
      </Placemark>
",
                    w.lon, w.lat, w.height_m, w.height_m
                );
            }
        }
        Template::Area {
            polygon,
            side_overlap,
            bearing_deg,
        } => {
            let _ = write!(
                out,
                "      <Placemark>
        <wpml:caliFlightEnable>0</wpml:caliFlightEnable>
        <wpml:elevationOptimizeEnable>0</wpml:elevationOptimizeEnable>
        <wpml:smartObliqueEnable>0</wpml:smartObliqueEnable>
        <wpml:shootType>time</wpml:shootType>
        <wpml:direction>{:.0}</wpml:direction>
        <wpml:margin>0</wpml:margin>
        <wpml:overlap>
          <wpml:orthoCameraOverlapH>80</wpml:orthoCameraOverlapH>
          <wpml:orthoCameraOverlapW>{:.0}</wpml:orthoCameraOverlapW>
        </wpml:overlap>
        <Polygon>
          <outerBoundaryIs>
            <LinearRing>
              <coordinates>{}</coordinates>
            </LinearRing>
          </outerBoundaryIs>
        </Polygon>
        <wpml:ellipsoidHeight>{height}</wpml:ellipsoidHeight>
        <wpml:height>{height}</wpml:height>
      </Placemark>
",
                bearing_deg.rem_euclid(360.0),
                side_overlap * 100.0,
                coords(polygon, true)
            );
        }
        Template::Corridor {
            line,
            width_m,
            side_overlap,
        } => {
            let _ = write!(
                out,
                "      <Placemark>
        <wpml:caliFlightEnable>0</wpml:caliFlightEnable>
        <wpml:shootType>time</wpml:shootType>
        <wpml:direction>0</wpml:direction>
        <wpml:margin>0</wpml:margin>
        <wpml:singleLineEnable>0</wpml:singleLineEnable>
        <wpml:cuttingDistance>0</wpml:cuttingDistance>
        <wpml:boundaryOptimEnable>0</wpml:boundaryOptimEnable>
        <wpml:includeCenterEnable>1</wpml:includeCenterEnable>
        <wpml:leftExtend>{:.0}</wpml:leftExtend>
        <wpml:rightExtend>{:.0}</wpml:rightExtend>
        <wpml:overlap>
          <wpml:orthoCameraOverlapH>80</wpml:orthoCameraOverlapH>
          <wpml:orthoCameraOverlapW>{:.0}</wpml:orthoCameraOverlapW>
        </wpml:overlap>
        <LineString>
          <coordinates>{}</coordinates>
        </LineString>
        <wpml:ellipsoidHeight>{height}</wpml:ellipsoidHeight>
        <wpml:height>{height}</wpml:height>
      </Placemark>
",
                width_m / 2.0,
                width_m / 2.0,
                side_overlap * 100.0,
                coords(line, false)
            );
        }
    }
    out.push_str("    </Folder>\n  </Document>\n</kml>\n");
    out
}

/// `wpmz/waylines.wpml`.
fn waylines(m: &Mission) -> Result<String, FormatError> {
    let mut out = String::new();
    header(&mut out);
    mission_config(m, &mut out);
    let cost = m.cost();
    let _ = write!(
        out,
        "    <Folder>
      <wpml:templateId>0</wpml:templateId>
      <wpml:executeHeightMode>relativeToStartPoint</wpml:executeHeightMode>
      <wpml:waylineId>0</wpml:waylineId>
      <wpml:distance>{:.1}</wpml:distance>
      <wpml:duration>{:.1}</wpml:duration>
      <wpml:autoFlightSpeed>{}</wpml:autoFlightSpeed>
",
        cost.length_m, cost.duration_s, m.speed_mps
    );
    let mut speed = m.speed_mps;
    let mut group = 0;
    for (i, w) in m.waypoints.iter().enumerate() {
        if let Some(s) = w.speed_mps {
            speed = s;
        }
        let _ = write!(
            out,
            "      <Placemark>
        <Point>
          <coordinates>{:.10},{:.10}</coordinates>
        </Point>
        <wpml:index>{i}</wpml:index>
        <wpml:executeHeight>{}</wpml:executeHeight>
        <wpml:waypointSpeed>{speed}</wpml:waypointSpeed>
        <wpml:waypointHeadingParam>
          <wpml:waypointHeadingMode>followWayline</wpml:waypointHeadingMode>
          <wpml:waypointHeadingAngle>0</wpml:waypointHeadingAngle>
          <wpml:waypointPoiPoint>0.000000,0.000000,0.000000</wpml:waypointPoiPoint>
          <wpml:waypointHeadingAngleEnable>0</wpml:waypointHeadingAngleEnable>
          <wpml:waypointHeadingPoiIndex>0</wpml:waypointHeadingPoiIndex>
        </wpml:waypointHeadingParam>
        <wpml:waypointTurnParam>
          <wpml:waypointTurnMode>toPointAndStopWithDiscontinuityCurvature</wpml:waypointTurnMode>
          <wpml:waypointTurnDampingDist>0</wpml:waypointTurnDampingDist>
        </wpml:waypointTurnParam>
        <wpml:useStraightLine>1</wpml:useStraightLine>
",
            w.lon, w.lat, w.height_m
        );
        if !w.actions.is_empty() {
            let _ = write!(
                out,
                "        <wpml:actionGroup>
          <wpml:actionGroupId>{group}</wpml:actionGroupId>
          <wpml:actionGroupStartIndex>{i}</wpml:actionGroupStartIndex>
          <wpml:actionGroupEndIndex>{i}</wpml:actionGroupEndIndex>
          <wpml:actionGroupMode>sequence</wpml:actionGroupMode>
          <wpml:actionTrigger>
            <wpml:actionTriggerType>reachPoint</wpml:actionTriggerType>
          </wpml:actionTrigger>
"
            );
            group += 1;
            for (k, a) in w.actions.iter().enumerate() {
                let params = match a {
                    Action::Gimbal { pitch_deg } => format!(
                        "<wpml:actionActuatorFunc>gimbalRotate</wpml:actionActuatorFunc>
            <wpml:actionActuatorFuncParam>
              <wpml:gimbalHeadingYawBase>aircraft</wpml:gimbalHeadingYawBase>
              <wpml:gimbalRotateMode>absoluteAngle</wpml:gimbalRotateMode>
              <wpml:gimbalPitchRotateEnable>1</wpml:gimbalPitchRotateEnable>
              <wpml:gimbalPitchRotateAngle>{pitch_deg}</wpml:gimbalPitchRotateAngle>
              <wpml:gimbalRollRotateEnable>0</wpml:gimbalRollRotateEnable>
              <wpml:gimbalRollRotateAngle>0</wpml:gimbalRollRotateAngle>
              <wpml:gimbalYawRotateEnable>0</wpml:gimbalYawRotateEnable>
              <wpml:gimbalYawRotateAngle>0</wpml:gimbalYawRotateAngle>
              <wpml:gimbalRotateTimeEnable>0</wpml:gimbalRotateTimeEnable>
              <wpml:gimbalRotateTime>0</wpml:gimbalRotateTime>
              <wpml:payloadPositionIndex>0</wpml:payloadPositionIndex>
            </wpml:actionActuatorFuncParam>"
                    ),
                    Action::Hover { seconds } => format!(
                        "<wpml:actionActuatorFunc>hover</wpml:actionActuatorFunc>
            <wpml:actionActuatorFuncParam>
              <wpml:hoverTime>{seconds}</wpml:hoverTime>
            </wpml:actionActuatorFuncParam>"
                    ),
                    Action::Other { name } => {
                        // Only DJI's own function names pass through (as read, without
                        // parameters they would lose): anything else is refused.
                        return Err(FormatError::Unsupported {
                            format: "WPML",
                            waypoint: i,
                            action: name.clone(),
                        });
                    }
                };
                let _ = write!(
                    out,
                    "          <wpml:action>\n            <wpml:actionId>{k}</wpml:actionId>\n            {params}\n          </wpml:action>\n"
                );
            }
            out.push_str("        </wpml:actionGroup>\n");
        }
        out.push_str("      </Placemark>\n");
    }
    out.push_str("    </Folder>\n  </Document>\n</kml>\n");
    Ok(out)
}

/// The mission as a KMZ.
pub fn write(m: &Mission) -> Result<Vec<u8>, FormatError> {
    let waylines = waylines(m)?;
    let template = template(m);
    let zip_err = |e: &dyn std::fmt::Display| FormatError::at("zip", &e.to_string());
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, body) in [
        ("wpmz/template.kml", template),
        ("wpmz/waylines.wpml", waylines),
    ] {
        z.start_file(name, opts).map_err(|e| zip_err(&e))?;
        z.write_all(body.as_bytes()).map_err(|e| zip_err(&e))?;
    }
    let cursor = z.finish().map_err(|e| zip_err(&e))?;
    Ok(cursor.into_inner())
}

fn entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Vec<u8>, FormatError> {
    let mut f = archive
        .by_name(name)
        .map_err(|_| FormatError::at(name, "is not in the KMZ"))?;
    if f.size() > MAX_ENTRY {
        return Err(FormatError::at(
            name,
            &format!("{} bytes is too large", f.size()),
        ));
    }
    let mut out = Vec::new();
    f.by_ref()
        .take(MAX_ENTRY + 1)
        .read_to_end(&mut out)
        .map_err(|e| FormatError::at(name, &e.to_string()))?;
    if out.len() as u64 > MAX_ENTRY {
        return Err(FormatError::at(name, "is too large uncompressed"));
    }
    Ok(out)
}

/// A number from an element's text.
fn number(n: &Node, path: &str) -> Result<f64, FormatError> {
    n.text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| FormatError::at(path, &format!("{:?} is not a number", short(&n.text))))
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The child `name` of `n` (at `path`) as a number.
fn child_number(n: &Node, name: &str, path: &str) -> Result<f64, FormatError> {
    let at = format!("{path}/wpml:{name}");
    let c = n
        .child(name)
        .ok_or_else(|| FormatError::at(&at, "is missing"))?;
    number(c, &at)
}

/// Reads a KMZ: the waylines it flies (its first `Folder`; a file with several waylines flies
/// them in order, so their waypoints are read in order).
pub fn read(bytes: &[u8]) -> Result<Mission, FormatError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| FormatError::at("KMZ", &format!("not a zip archive: {e}")))?;
    let data = entry(&mut archive, "wpmz/waylines.wpml")?;
    let root = xml::parse("wpmz/waylines.wpml", &data)?;
    if root.name != "kml" {
        return Err(FormatError::at(
            "wpmz/waylines.wpml",
            &format!("the root is <{}>, not <kml>", root.name),
        ));
    }
    let ns = root
        .attributes
        .iter()
        .find(|(k, _)| k.starts_with("xmlns:") && k.len() > 6)
        .filter(|(_, v)| v.starts_with(NAMESPACE_PREFIX));
    let Some((_, _)) = ns else {
        return Err(FormatError::at(
            "wpmz/waylines.wpml /kml",
            &format!("no WPML namespace ({NAMESPACE_PREFIX}x)"),
        ));
    };
    let doc = root
        .child("Document")
        .ok_or_else(|| FormatError::at("/kml/Document", "is missing"))?;
    let config = doc
        .child("missionConfig")
        .ok_or_else(|| FormatError::at("/kml/Document/wpml:missionConfig", "is missing"))?;
    let cfg_path = "/kml/Document/wpml:missionConfig";
    let take_off = match config.child("takeOffRefPoint") {
        Some(t) => {
            let at = format!("{cfg_path}/wpml:takeOffRefPoint");
            let parts: Vec<f64> = t
                .text
                .split(',')
                .map(|p| p.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    FormatError::at(&at, &format!("{:?} is not lat,lon,alt", short(&t.text)))
                })?;
            let [lat, lon, alt] = parts[..] else {
                return Err(FormatError::at(
                    &at,
                    &format!("{:?} is not lat,lon,alt", short(&t.text)),
                ));
            };
            super::check_position(&at, lat, lon, alt)?;
            Some(Home {
                lat,
                lon,
                elevation_m: alt,
            })
        }
        None => None,
    };
    let rth_altitude_m = match config.child("globalRTHHeight") {
        Some(n) => {
            let at = format!("{cfg_path}/wpml:globalRTHHeight");
            let v = number(n, &at)?;
            super::check_rth(&at, v)?;
            v
        }
        None => 100.0,
    };
    let mut waypoints = Vec::new();
    let mut mission_speed = None;
    let folders: Vec<&Node> = doc.all("Folder").collect();
    if folders.is_empty() {
        return Err(FormatError::at(
            "/kml/Document/Folder",
            "is missing (no wayline)",
        ));
    }
    for (fi, folder) in folders.into_iter().enumerate() {
        let fpath = format!("/kml/Document/Folder[{fi}]");
        let mode_path = format!("{fpath}/wpml:executeHeightMode");
        let mode = folder
            .child("executeHeightMode")
            .map(|n| n.text.as_str())
            .ok_or_else(|| FormatError::at(&mode_path, "is missing"))?;
        let base = match mode {
            "relativeToStartPoint" => 0.0,
            "WGS84" | "EGM96" => match take_off {
                Some(h) => h.elevation_m,
                None => {
                    return Err(FormatError::at(
                        &mode_path,
                        &format!("{mode} heights need missionConfig's takeOffRefPoint"),
                    ));
                }
            },
            other => {
                return Err(FormatError::at(
                    &mode_path,
                    &format!(
                        "{:?} is not relativeToStartPoint, WGS84 or EGM96",
                        short(other)
                    ),
                ));
            }
        };
        let auto_speed = child_number(folder, "autoFlightSpeed", &fpath)?;
        super::check_speed(&format!("{fpath}/wpml:autoFlightSpeed"), auto_speed)?;
        let mut speed = *mission_speed.get_or_insert(auto_speed);
        for (pi, pm) in folder.all("Placemark").enumerate() {
            let ppath = format!("{fpath}/Placemark[{pi}]");
            let cpath = format!("{ppath}/Point/coordinates");
            let c = pm
                .child("Point")
                .and_then(|p| p.child("coordinates"))
                .ok_or_else(|| FormatError::at(&cpath, "is missing"))?;
            let parts: Vec<&str> = c.text.split(',').map(str::trim).collect();
            let (lon, lat) = match parts[..] {
                [lon, lat] | [lon, lat, _] => (
                    lon.parse::<f64>().map_err(|_| {
                        FormatError::at(&cpath, &format!("{:?} is not lon,lat", short(&c.text)))
                    })?,
                    lat.parse::<f64>().map_err(|_| {
                        FormatError::at(&cpath, &format!("{:?} is not lon,lat", short(&c.text)))
                    })?,
                ),
                _ => {
                    return Err(FormatError::at(
                        &cpath,
                        &format!("{:?} is not lon,lat", short(&c.text)),
                    ));
                }
            };
            let height = child_number(pm, "executeHeight", &ppath)? - base;
            super::check_position(&cpath, lat, lon, height)?;
            let mut w = Waypoint::at(lat, lon, height);
            if let Some(s) = pm.child("waypointSpeed") {
                let s = number(s, &format!("{ppath}/wpml:waypointSpeed"))?;
                if !(s > 0.0 && s <= 30.0) {
                    return Err(FormatError::at(
                        &format!("{ppath}/wpml:waypointSpeed"),
                        &format!("{s} m/s is outside (0, 30]"),
                    ));
                }
                if (s - speed).abs() > 1e-9 {
                    w.speed_mps = Some(s);
                    speed = s;
                }
            }
            for (gi, g) in pm.all("actionGroup").enumerate() {
                for (ai, a) in g.all("action").enumerate() {
                    let apath = format!("{ppath}/wpml:actionGroup[{gi}]/wpml:action[{ai}]");
                    let func = a
                        .child("actionActuatorFunc")
                        .map(|f| f.text.as_str())
                        .ok_or_else(|| {
                            FormatError::at(
                                &format!("{apath}/wpml:actionActuatorFunc"),
                                "is missing",
                            )
                        })?;
                    let params = a.child("actionActuatorFuncParam");
                    let ppath = format!("{apath}/wpml:actionActuatorFuncParam");
                    match (func, params) {
                        ("gimbalRotate", Some(p))
                            if p.child("gimbalPitchRotateEnable")
                                .is_some_and(|e| e.text == "1") =>
                        {
                            let pitch_deg = child_number(p, "gimbalPitchRotateAngle", &ppath)?;
                            if !(-120.0..=45.0).contains(&pitch_deg) {
                                return Err(FormatError::at(
                                    &format!("{ppath}/wpml:gimbalPitchRotateAngle"),
                                    &format!("{pitch_deg}° is out of range"),
                                ));
                            }
                            w.actions.push(Action::Gimbal { pitch_deg });
                        }
                        ("hover", Some(p)) => {
                            let seconds = child_number(p, "hoverTime", &ppath)?;
                            if !(0.0..=3600.0).contains(&seconds) {
                                return Err(FormatError::at(
                                    &format!("{ppath}/wpml:hoverTime"),
                                    &format!("{seconds} s is out of range"),
                                ));
                            }
                            w.actions.push(Action::Hover { seconds });
                        }
                        (other, _) => w.actions.push(Action::Other { name: short(other) }),
                    }
                }
            }
            waypoints.push(w);
        }
    }
    let Some(first) = waypoints.first() else {
        return Err(FormatError::at(
            "/kml/Document/Folder/Placemark",
            "no waypoint",
        ));
    };
    let home = take_off.unwrap_or(Home {
        lat: first.lat,
        lon: first.lon,
        elevation_m: 0.0,
    });
    Ok(Mission {
        home,
        speed_mps: mission_speed.unwrap_or(10.0),
        rth_altitude_m,
        template: read_template(&mut archive).unwrap_or(Template::Waypoints),
        waypoints,
    })
}

/// The area or corridor of `wpmz/template.kml`, when it has one that reads.
fn read_template(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> Option<Template> {
    let data = entry(archive, "wpmz/template.kml").ok()?;
    let root = xml::parse("wpmz/template.kml", &data).ok()?;
    let folder = root.child("Document")?.child("Folder")?;
    let pm = folder.child("Placemark")?;
    // Positions and numbers out of range read as no template, like one that does not parse.
    let pairs = |text: &str| -> Option<Vec<[f64; 2]>> {
        text.split_whitespace()
            .map(|c| {
                let mut it = c.split(',').map(|x| x.parse::<f64>().ok());
                let (lon, lat) = (it.next()??, it.next()??);
                super::check_position("", lat, lon, 0.0).ok()?;
                Some([lat, lon])
            })
            .collect()
    };
    let overlap = match pm
        .child("overlap")
        .and_then(|o| o.child("orthoCameraOverlapW"))
    {
        Some(o) => Some(o.text.parse::<f64>().ok()? / 100.0).filter(|v| (0.0..1.0).contains(v))?,
        None => 0.0,
    };
    match folder.child("templateType")?.text.as_str() {
        "mapping2d" => {
            let ring = pm
                .child("Polygon")?
                .child("outerBoundaryIs")?
                .child("LinearRing")?
                .child("coordinates")?;
            let mut polygon = pairs(&ring.text)?;
            if polygon.len() > 1 && polygon.first() == polygon.last() {
                polygon.pop();
            }
            if polygon.len() < 3 {
                return None;
            }
            Some(Template::Area {
                polygon,
                side_overlap: overlap,
                bearing_deg: pm
                    .child("direction")?
                    .text
                    .parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite())?,
            })
        }
        "mappingStrip" => {
            let line = pairs(&pm.child("LineString")?.child("coordinates")?.text)?;
            let half = |k: &str| {
                pm.child(k)
                    .and_then(|n| n.text.parse::<f64>().ok())
                    .filter(|v| v.is_finite() && (0.0..=5000.0).contains(v))
            };
            if line.len() < 2 {
                return None;
            }
            Some(Template::Corridor {
                line,
                width_m: half("leftExtend")? + half("rightExtend")?,
                side_overlap: overlap,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_the_md5_everyone_computes() {
        assert_eq!(fingerprint(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            fingerprint(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }
}
