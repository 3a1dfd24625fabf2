#!/usr/bin/env python3
"""An independent reader of DJI WPML KMZ files (standard library only).

    python3 check_wpml.py FILE.kmz [FILE.kmz ...]

prints `ok FILE` for a file that passes, or one `FILE: <element path>: <what is wrong>` line per
problem, and exits 1 when any file has a problem (2 on a usage error). An element path names
the zip entry, then the XML element: `wpmz/waylines.wpml/kml/Document/Folder[0]/Placemark[3]/
wpml:executeHeight` (indices count from 0 among siblings of that name).

It shares no code with Argus's writer or reader. What it enforces comes from DJI's WPML
reference, cited by page title (Cloud API documentation, "DJI WPML" section; the English pages
and the newer Chinese pages, which agree except where noted):

- "Overview" (总体介绍): a KMZ is a zip holding `wpmz/template.kml` and `wpmz/waylines.wpml`;
  the names inside must be exactly these.
- "Template.kml" (template.kml 说明): creation info, `wpml:missionConfig`, the template Folder.
- "Waylines.wpml" (waylines.wpml 说明): `wpml:missionConfig`, one Folder per wayline, the
  waypoints that are flown.
- "Common Elements" (共用元素信息): droneInfo, payloadInfo, heading and turn parameters,
  action groups, triggers and actions with their parameters.

and from the import check of DJI's Cloud API Demo (`dji-sdk/DJI-Cloud-API-Demo`,
`WaylineFileServiceImpl.validKmzFile`): the file name ends in `.kmz`; the entry
`wpmz/template.kml` exists; its XML declaration says `encoding="UTF-8"` (compared with
`Document.getXMLEncoding()`); `//wpml:droneInfo` and `//wpml:payloadInfo` exist (the prefix is
literally `wpml`); droneEnumValue, droneSubEnumValue, payloadEnumValue and payloadSubEnumValue
are integers (`Integer.parseInt`); `//wpml:templateType` is one of `WaylineTypeEnum`
(waypoint, mapping2d, mapping3d, mappingStrip).

Only what the pages mark required is required. Where DJI's own files (the three DJI-made KMZs
in shared/data/telemetry/dji_wpml/, from Pilot 2, Payload-SDK and Mobile SDK v5) leave out an
element a page marks required, DJI's files win and the element is checked only when present:

- `wpml:globalRTHHeight` (missionConfig, marked required; absent from all three files);
- `wpml:waypointHeadingPathMode` (heading parameters, marked required; absent from all three);
- `wpml:gimbalHeadingYawBase` (gimbalRotate, marked required; absent from the Payload-SDK file);
- `wpml:fileSuffix` (takePhoto, marked required; absent from a takePhoto of the Payload-SDK file);
- `wpml:directoryName` (customDirName, marked required; absent from the Payload-SDK file);
- `wpml:imageFormat` (payloadParam, marked required; absent from the Pilot 2 Mavic 3M file);
- `wpml:globalHeight` sits in `wpml:waylineCoordinateSysParam` in the 1.0.0 Mobile SDK file, not
  in the Folder as the page has it: either place is accepted;
- `wpml:actionId` ("unique within an action group"): Pilot 2 numbers every action of
  template.kml 0, so only waylines.wpml, the file that is flown, is held to it; likewise
  actionGroupId ("unique within a kmz file") is checked within each of the two files.

Where the two language versions of a page differ, the current Chinese page (2025) is followed
(speeds [1, 15] m/s, where the English page says "(0, the aircraft's maximum]"), except for
takeOffSecurityHeight, whose range depends on whether a remote controller or a dock launches
the aircraft, which the file does not say: the union [1.2, 1500] m is accepted.
"""

from __future__ import annotations

import io
import math
import re
import sys
import zipfile
import xml.etree.ElementTree as ET

KML_NS = "http://www.opengis.net/kml/2.2"
# "Overview" and every page's sample: xmlns:wpml="http://www.dji.com/wpmz/1.0.x" (1.0.0 to
# 1.0.6 in DJI's files).
WPML_NS_RE = re.compile(r"^http://www\.dji\.com/wpmz/1\.0\.\d+$")
TEMPLATE = "wpmz/template.kml"
WAYLINES = "wpmz/waylines.wpml"
MAX_ENTRY = 64 << 20  # bytes, uncompressed: refuse zip bombs before reading

# --- Enumerations, by page -------------------------------------------------------------------

# "Template.kml" / "Waylines.wpml", missionConfig table.
FLY_TO_WAYLINE = {"safely", "pointToPoint"}
FINISH_ACTION = {"goHome", "noAction", "autoLand", "gotoFirstWaypoint"}
EXIT_ON_RC_LOST = {"goContinue", "executeLostAction"}
RC_LOST_ACTION = {"goBack", "landing", "hover"}
# "Template.kml", template common elements; the Cloud API Demo's WaylineTypeEnum has the same.
TEMPLATE_TYPES = {"waypoint", "mapping2d", "mapping3d", "mappingStrip"}
# "Template.kml", coordinate parameters.
COORDINATE_MODES = {"WGS84"}
HEIGHT_MODES = {"EGM96", "relativeToStartPoint", "aboveGroundLevel", "realTimeFollowSurface"}
POSITIONING_TYPES = {"GPS", "RTKBaseStation", "QianXun", "Custom"}
GIMBAL_PITCH_MODES = {"manual", "usePointSetting"}
SHOOT_TYPES = {"time", "distance"}
# "Waylines.wpml", Folder table.
EXECUTE_HEIGHT_MODES = {"WGS84", "relativeToStartPoint", "realTimeFollowSurface"}
# "Common Elements", heading and turn parameters.
HEADING_MODES = {"followWayline", "manually", "fixed", "smoothTransition", "towardPOI"}
HEADING_PATH_MODES = {"clockwise", "counterClockwise", "followBadArc"}
TURN_MODES = {
    "coordinateTurn",
    "toPointAndStopWithDiscontinuityCurvature",
    "toPointAndStopWithContinuityCurvature",
    "toPointAndPassWithContinuityCurvature",
}
CURVED_TURNS = {"toPointAndStopWithContinuityCurvature", "toPointAndPassWithContinuityCurvature"}
# "Common Elements", actionGroup, actionTrigger and action tables. panoShot and
# recordPointCloud are on the Chinese page only (newer).
GROUP_MODES = {"sequence"}
TRIGGER_TYPES = {"reachPoint", "betweenAdjacentPoints", "multipleTiming", "multipleDistance"}
ACTUATOR_FUNCS = {
    "takePhoto",
    "startRecord",
    "stopRecord",
    "focus",
    "zoom",
    "customDirName",
    "gimbalRotate",
    "rotateYaw",
    "hover",
    "gimbalEvenlyRotate",
    "accurateShoot",
    "orientedShoot",
    "panoShot",
    "recordPointCloud",
}
# "Common Elements", gimbalRotate: gimbalRotateMode relativeAngle | absoluteAngle (the Chinese
# page lists absoluteAngle only; the English one both). gimbalHeadingYawBase: the page lists
# `north`; DJI's Mobile SDK v5 WPMZ library (dji.sdk.wpmz.value.mission.GimbalHeadingYawBase)
# also has AIRCRAFT, so `aircraft` is accepted too.
GIMBAL_ROTATE_MODES = {"relativeAngle", "absoluteAngle"}
GIMBAL_YAW_BASES = {"north", "aircraft"}
AIRCRAFT_PATH_MODES = {"clockwise", "counterClockwise"}
# "Common Elements" gives gimbal pitch ranges per aircraft (orientedShoot / accurateShoot):
# M300/M350 and M30/M30T [-120, 45], M3E/M3T [-90, 35], M3D/M3TD and M4 family [-90, 30].
# droneEnumValue per "Common Elements" droneInfo: 60 M300, 89 M350, 67 M30, 77 M3E/M3T/M3M,
# 91 M3D/M3TD; 99 is the M4E/M4T (Cloud API product support list). Unknown aircraft get the
# widest documented range.
PITCH_RANGE = {
    60: (-120, 45),
    89: (-120, 45),
    67: (-120, 45),
    77: (-90, 35),
    91: (-90, 30),
    99: (-90, 30),
}
WIDEST_PITCH = (-120, 45)

# Speeds: "Template.kml" / "Waylines.wpml" (Chinese pages, 2025): autoFlightSpeed,
# waypointSpeed and globalTransitionalSpeed are [1, 15] m/s (the English pages: (0, the
# aircraft's maximum]; 15 m/s is the M3E/M30 maximum).
SPEED = (1.0, 15.0)
# takeOffSecurityHeight: [1.2, 1500] with a remote controller, [8, 1500] from a dock (Chinese
# page); [2, 1500] (English page). Which one applies is not in the file: the union is used.
TAKEOFF_SECURITY = (1.2, 1500.0)
RTH_HEIGHT = (2.0, 1500.0)
ID_RANGE = (0, 65535)


class Checker:
    """Collects the problems of one KMZ."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.ns = ""  # the wpml namespace URI of the document being read
        self.group_ids: set[int] = set()  # actionGroupIds seen in the document being read
        self.drone_enum: int | None = None

    def bad(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    # --- element access ----------------------------------------------------------------------

    def q(self, name: str) -> str:
        """`wpml:x` or a KML name as an ElementTree tag."""
        if name.startswith("wpml:"):
            return "{%s}%s" % (self.ns, name[5:])
        return "{%s}%s" % (KML_NS, name)

    def children(self, el: ET.Element, name: str) -> list[ET.Element]:
        return el.findall(self.q(name))

    def child(self, el: ET.Element, name: str, path: str, required: bool) -> ET.Element | None:
        found = el.find(self.q(name))
        if found is None and required:
            self.bad(f"{path}/{name}", "is missing")
        return found

    def text(self, el: ET.Element, name: str, path: str, required: bool) -> str | None:
        c = self.child(el, name, path, required)
        if c is None:
            return None
        return (c.text or "").strip()

    def enum(self, el, name, path, allowed, required=True) -> str | None:
        v = self.text(el, name, path, required)
        if v is not None and v not in allowed:
            self.bad(f"{path}/{name}", f"{v!r} is not one of {', '.join(sorted(allowed))}")
            return None
        return v

    def number(self, el, name, path, required=True, lo=None, hi=None, integer=False,
               above=None) -> float | None:
        """A float (or an integer) child, in [lo, hi] and > above when given."""
        v = self.text(el, name, path, required)
        if v is None:
            return None
        at = f"{path}/{name}"
        x = parse_number(v, integer)
        if x is None:
            self.bad(at, f"{short(v)!r} is not {'an integer' if integer else 'a number'}")
            return None
        if lo is not None and x < lo or hi is not None and x > hi:
            self.bad(at, f"{v} is outside [{fmt(lo)}, {fmt(hi)}]")
            return None
        if above is not None and not x > above:
            self.bad(at, f"{v} is not > {fmt(above)}")
            return None
        return x

    def ident(self, el, name, path) -> int | None:
        """A required integer id or index in [0, 65535]."""
        v = self.number(el, name, path, integer=True, lo=ID_RANGE[0], hi=ID_RANGE[1])
        return None if v is None else int(v)

    def flag(self, el, name, path, required=True) -> int | None:
        """A boolean child: 0 or 1."""
        v = self.text(el, name, path, required)
        if v is None:
            return None
        if v not in ("0", "1"):
            self.bad(f"{path}/{name}", f"{short(v)!r} is not 0 or 1")
            return None
        return int(v)

    # --- files ---------------------------------------------------------------------------------

    def check(self, filename: str) -> None:
        # Cloud API Demo validKmzFile: `filename.endsWith(".kmz")`.
        if not filename.endswith(".kmz"):
            self.bad("KMZ", "the file name does not end in .kmz (the Cloud API Demo refuses it)")
        try:
            archive = zipfile.ZipFile(filename)
        except (OSError, zipfile.BadZipFile) as e:
            self.bad("KMZ", f"not a zip archive: {e}")
            return
        with archive:
            names = set(archive.namelist())
            docs = {}
            for entry in (TEMPLATE, WAYLINES):
                if entry not in names:
                    # "Overview": the folder and file names inside must be exactly these.
                    self.bad(entry, "is not in the KMZ")
                    continue
                info = archive.getinfo(entry)
                if info.file_size > MAX_ENTRY:
                    self.bad(entry, f"{info.file_size} bytes uncompressed is too large")
                    continue
                try:
                    with archive.open(entry) as f:
                        data = f.read(MAX_ENTRY + 1)  # the size in the header may lie
                except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as e:
                    self.bad(entry, f"cannot be read: {e}")
                    continue
                if len(data) > MAX_ENTRY:
                    self.bad(entry, "is too large uncompressed")
                    continue
                docs[entry] = self.parse(entry, data)
        template_ids: set[int] | None = None
        if docs.get(TEMPLATE) is not None:
            template_ids = self.check_template(*docs[TEMPLATE])
        if docs.get(WAYLINES) is not None:
            self.check_waylines(*docs[WAYLINES], template_ids)

    def parse(self, entry: str, data: bytes):
        """The root element and the wpml namespace of an entry, or None (problem recorded)."""
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.bad(entry, f"is not UTF-8: {e}")
            return None
        decl = re.match(rb"<\?xml([^>]*)\?>", data.lstrip(b"\xef\xbb\xbf"))
        encoding = None
        if decl:
            m = re.search(rb"""encoding\s*=\s*["']([^"']*)["']""", decl.group(1))
            encoding = m.group(1).decode("ascii", "replace") if m else None
        if entry == TEMPLATE and encoding != "UTF-8":
            # Cloud API Demo: `"UTF-8".equals(document.getXMLEncoding())`, case and all.
            self.bad(entry, f"the XML declaration's encoding is {encoding!r}, not \"UTF-8\""
                     " (the Cloud API Demo refuses it)")
        elif encoding is not None and encoding.upper() not in ("UTF-8", "UTF8"):
            self.bad(entry, f"the XML declaration's encoding is {encoding!r}, not UTF-8")
        prefixes: dict[str, str] = {}
        try:
            root = None
            for event, item in ET.iterparse(io.BytesIO(data), events=("start-ns", "start")):
                if event == "start-ns":
                    prefixes.setdefault(item[0], item[1])
                elif root is None:
                    root = item
        except (ET.ParseError, LookupError, ValueError) as e:
            self.bad(entry, f"is not well-formed XML: {e}")
            return None
        at = f"{entry}/kml"
        if root is None or root.tag != "{%s}kml" % KML_NS:
            tag = None if root is None else root.tag
            self.bad(at, f"the root element is {tag!r}, not <kml> in {KML_NS}")
            return None
        ns = prefixes.get("wpml")
        if ns is None:
            # The Cloud API Demo looks elements up by the literal prefix `wpml:`.
            self.bad(at, "declares no xmlns:wpml namespace")
            return None
        if not WPML_NS_RE.match(ns):
            self.bad(at, f"xmlns:wpml is {ns!r}, not http://www.dji.com/wpmz/1.0.x")
            return None
        if prefixes.get("") != KML_NS:
            self.bad(at, f"the default namespace is {prefixes.get('')!r}, not {KML_NS}")
        return root, ns

    # --- missionConfig ("Template.kml" and "Waylines.wpml"; droneInfo and payloadInfo:
    # "Common Elements" and the Cloud API Demo) -----------------------------------------------

    def check_mission_config(self, doc: ET.Element, path: str) -> None:
        mc = self.child(doc, "wpml:missionConfig", path, True)
        if mc is None:
            return
        p = f"{path}/wpml:missionConfig"
        self.enum(mc, "wpml:flyToWaylineMode", p, FLY_TO_WAYLINE)
        self.enum(mc, "wpml:finishAction", p, FINISH_ACTION)
        exit_mode = self.enum(mc, "wpml:exitOnRCLost", p, EXIT_ON_RC_LOST)
        self.enum(mc, "wpml:executeRCLostAction", p, RC_LOST_ACTION,
                  required=exit_mode == "executeLostAction")
        lo, hi = TAKEOFF_SECURITY
        self.number(mc, "wpml:takeOffSecurityHeight", p, lo=lo, hi=hi)
        self.number(mc, "wpml:globalTransitionalSpeed", p, lo=SPEED[0], hi=SPEED[1])
        # Marked required by both pages, yet absent from all three DJI-made files.
        lo, hi = RTH_HEIGHT
        self.number(mc, "wpml:globalRTHHeight", p, required=False, lo=lo, hi=hi)
        ref = self.text(mc, "wpml:takeOffRefPoint", p, False)
        if ref is not None:
            self.check_lat_lon_alt(ref, f"{p}/wpml:takeOffRefPoint")
        self.number(mc, "wpml:takeOffRefPointAGLHeight", p, required=False)
        drone = self.child(mc, "wpml:droneInfo", p, True)
        if drone is not None:
            dp = f"{p}/wpml:droneInfo"
            e = self.number(drone, "wpml:droneEnumValue", dp, integer=True, lo=0)
            if e is not None:
                self.drone_enum = int(e)
            # "Common Elements": required when droneEnumValue is valid; the Cloud API Demo parses
            # it with Integer.parseInt, so it must be there.
            self.number(drone, "wpml:droneSubEnumValue", dp, integer=True, lo=0)
        payload = self.child(mc, "wpml:payloadInfo", p, True)
        if payload is not None:
            pp = f"{p}/wpml:payloadInfo"
            self.number(payload, "wpml:payloadEnumValue", pp, integer=True, lo=0)
            # Not on the page, but the Cloud API Demo parses it with Integer.parseInt.
            self.number(payload, "wpml:payloadSubEnumValue", pp, integer=True, lo=0)
            self.number(payload, "wpml:payloadPositionIndex", pp, integer=True, lo=0, hi=2)

    def check_lat_lon_alt(self, v: str, at: str) -> None:
        """`takeOffRefPoint` is <latitude,longitude,height> ("Template.kml")."""
        parts = [parse_number(x, False) for x in v.split(",")]
        if len(parts) != 3 or None in parts:
            self.bad(at, f"{short(v)!r} is not lat,lon,alt")
            return
        lat, lon, _ = parts
        if not -90 <= lat <= 90:
            swapped = " (longitude first? it is lat,lon,alt)" if -90 <= lon <= 90 else ""
            self.bad(at, f"latitude {fmt(lat)} is outside [-90, 90]{swapped}")
        if not -180 <= lon <= 180:
            self.bad(at, f"longitude {fmt(lon)} is outside [-180, 180]")

    def check_point(self, pm: ET.Element, path: str) -> None:
        """Placemark Point: <coordinates>longitude,latitude</coordinates> ("Template.kml",
        waypoint info; "Waylines.wpml", Placemark)."""
        point = self.child(pm, "Point", path, True)
        if point is None:
            return
        c = self.text(point, "coordinates", f"{path}/Point", True)
        if c is None:
            return
        at = f"{path}/Point/coordinates"
        parts = [parse_number(x, False) for x in c.split(",")]
        if len(parts) not in (2, 3) or None in parts:
            self.bad(at, f"{short(c)!r} is not lon,lat")
            return
        self.check_lon_lat(parts[0], parts[1], at)

    def check_lon_lat(self, lon: float, lat: float, at: str) -> None:
        if not -180 <= lon <= 180:
            self.bad(at, f"longitude {fmt(lon)} is outside [-180, 180]")
        if not -90 <= lat <= 90:
            swapped = " (latitude first? coordinates are lon,lat)" if -90 <= lon <= 90 else ""
            self.bad(at, f"latitude {fmt(lat)} is outside [-90, 90]{swapped}")

    def check_line(self, el: ET.Element, at: str, minimum: int) -> None:
        """KML coordinates `lon,lat[,alt] lon,lat[,alt] …`."""
        pts = (el.text or "").split()
        if len(pts) < minimum:
            self.bad(at, f"{len(pts)} points, fewer than {minimum}")
        for k, t in enumerate(pts):
            parts = [parse_number(x, False) for x in t.split(",")]
            if len(parts) not in (2, 3) or None in parts:
                self.bad(at, f"point {k} {short(t)!r} is not lon,lat[,alt]")
                continue
            self.check_lon_lat(parts[0], parts[1], f"{at} point {k}")

    # --- template.kml ("Template.kml") ---------------------------------------------------------

    def check_template(self, root: ET.Element, ns: str) -> set[int] | None:
        """The template's checks; returns its templateIds (None when there is no template to
        match the waylines against)."""
        self.ns, self.group_ids = ns, set()
        path = f"{TEMPLATE}/kml"
        ids: set[int] = set()
        # Cloud API Demo: `//wpml:droneInfo`, `//wpml:payloadInfo`, `//wpml:templateType`
        # anywhere in the document.
        for name in ("wpml:droneInfo", "wpml:payloadInfo", "wpml:templateType"):
            if root.find(".//" + self.q(name)) is None:
                self.bad(f"{path}//{name}", "is missing (the Cloud API Demo refuses the file)")
        doc = self.child(root, "Document", path, True)
        if doc is None:
            return None
        path += "/Document"
        self.number(doc, "wpml:createTime", path, required=False, integer=True, lo=0)
        self.number(doc, "wpml:updateTime", path, required=False, integer=True, lo=0)
        self.check_mission_config(doc, path)
        folders = self.children(doc, "Folder")
        if not folders:
            self.bad(f"{path}/Folder", "is missing (no template)")
            return None
        for fi, folder in enumerate(folders):
            fp = f"{path}/Folder[{fi}]"
            kind = self.enum(folder, "wpml:templateType", fp, TEMPLATE_TYPES)
            tid = self.ident(folder, "wpml:templateId", fp)
            if tid is not None:
                if tid in ids:
                    self.bad(f"{fp}/wpml:templateId", f"{tid} is not unique")
                ids.add(tid)
            self.number(folder, "wpml:autoFlightSpeed", fp, lo=SPEED[0], hi=SPEED[1])
            csp = self.child(folder, "wpml:waylineCoordinateSysParam", fp, True)
            cp = f"{fp}/wpml:waylineCoordinateSysParam"
            if csp is not None:
                self.enum(csp, "wpml:coordinateMode", cp, COORDINATE_MODES)
                self.enum(csp, "wpml:heightMode", cp, HEIGHT_MODES)
                self.enum(csp, "wpml:positioningType", cp, POSITIONING_TYPES, required=False)
                mapping = kind in ("mapping2d", "mapping3d", "mappingStrip")
                # Required for mapping2d, mapping3d and mappingStrip only.
                self.number(csp, "wpml:globalShootHeight", cp, required=mapping)
                follow = self.flag(csp, "wpml:surfaceFollowModeEnable", cp, required=mapping)
                self.number(csp, "wpml:surfaceRelativeHeight", cp, required=follow == 1)
            if kind == "waypoint":
                self.check_waypoint_template(folder, fp, csp)
            elif kind in ("mapping2d", "mapping3d"):
                self.check_area_template(folder, fp, kind)
            elif kind == "mappingStrip":
                self.check_strip_template(folder, fp)
        return ids

    def check_waypoint_template(self, folder: ET.Element, fp: str, csp: ET.Element | None) -> None:
        """"Template.kml": waypoint flight template elements and waypoint info."""
        turn = self.enum(folder, "wpml:globalWaypointTurnMode", fp, TURN_MODES)
        self.flag(folder, "wpml:globalUseStraightLine", fp, required=turn in CURVED_TURNS)
        pitch_mode = self.enum(folder, "wpml:gimbalPitchMode", fp, GIMBAL_PITCH_MODES)
        # globalHeight: in the Folder per the page; in waylineCoordinateSysParam in the 1.0.0
        # Mobile SDK file.
        if folder.find(self.q("wpml:globalHeight")) is not None or csp is None \
                or csp.find(self.q("wpml:globalHeight")) is None:
            self.number(folder, "wpml:globalHeight", fp)
        else:
            self.number(csp, "wpml:globalHeight", f"{fp}/wpml:waylineCoordinateSysParam")
        gh = self.child(folder, "wpml:globalWaypointHeadingParam", fp, False)
        if gh is not None:
            self.check_heading(gh, f"{fp}/wpml:globalWaypointHeadingParam")
        placemarks = self.children(folder, "Placemark")
        for pi, pm in enumerate(placemarks):
            pp = f"{fp}/Placemark[{pi}]"
            self.check_point(pm, pp)
            self.check_index(pm, pp, pi)
            use_height = self.flag(pm, "wpml:useGlobalHeight", pp)
            self.number(pm, "wpml:ellipsoidHeight", pp, required=use_height == 0)
            self.number(pm, "wpml:height", pp, required=use_height == 0)
            use_speed = self.flag(pm, "wpml:useGlobalSpeed", pp)
            lo, hi = SPEED
            self.number(pm, "wpml:waypointSpeed", pp, required=use_speed == 0, lo=lo, hi=hi)
            use_heading = self.flag(pm, "wpml:useGlobalHeadingParam", pp)
            h = self.child(pm, "wpml:waypointHeadingParam", pp, use_heading == 0)
            if h is not None:
                self.check_heading(h, f"{pp}/wpml:waypointHeadingParam")
            use_turn = self.flag(pm, "wpml:useGlobalTurnParam", pp)
            t = self.child(pm, "wpml:waypointTurnParam", pp, use_turn == 0)
            local_turn = None
            if t is not None:
                local_turn = self.check_turn(t, f"{pp}/wpml:waypointTurnParam", pm)
            self.flag(pm, "wpml:useStraightLine", pp, required=local_turn in CURVED_TURNS)
            # Required if and only if gimbalPitchMode is usePointSetting.
            self.number(pm, "wpml:gimbalPitchAngle", pp, required=pitch_mode == "usePointSetting")
        self.check_action_groups(placemarks, fp, unique_ids=False)

    def check_area_template(self, folder: ET.Element, fp: str, kind: str) -> None:
        """"Template.kml": mapping (mapping2d) and oblique (mapping3d) template elements, in the
        Folder's Placemark."""
        pm = self.child(folder, "Placemark", fp, True)
        if pm is None:
            return
        pp = f"{fp}/Placemark[0]"
        if kind == "mapping2d":
            self.flag(pm, "wpml:elevationOptimizeEnable", pp)
        else:
            self.number(pm, "wpml:inclinedGimbalPitch", pp, integer=True)
            self.number(pm, "wpml:inclinedFlightSpeed", pp, lo=SPEED[0], hi=SPEED[1])
        self.enum(pm, "wpml:shootType", pp, SHOOT_TYPES)
        self.number(pm, "wpml:direction", pp, integer=True, lo=0, hi=360)
        self.number(pm, "wpml:margin", pp, integer=True)
        self.check_overlap(pm, pp)
        self.number(pm, "wpml:ellipsoidHeight", pp)
        self.number(pm, "wpml:height", pp)
        steps = ("Polygon", "outerBoundaryIs", "LinearRing", "coordinates")
        ring = pm.find("/".join(self.q(n) for n in steps))
        at = f"{pp}/Polygon/outerBoundaryIs/LinearRing/coordinates"
        if ring is None:
            self.bad(at, "is missing (the survey area)")
        else:
            self.check_line(ring, at, 3)

    def check_strip_template(self, folder: ET.Element, fp: str) -> None:
        """"Template.kml": waypoint segment flight (mappingStrip) template elements. Both
        language versions mark these required; the Chinese page adds stripUseTemplateAltitude,
        which is not required here."""
        pm = self.child(folder, "Placemark", fp, True)
        if pm is None:
            return
        pp = f"{fp}/Placemark[0]"
        self.flag(pm, "wpml:caliFlightEnable", pp)
        self.enum(pm, "wpml:shootType", pp, SHOOT_TYPES)
        self.number(pm, "wpml:direction", pp, integer=True, lo=0, hi=360)
        self.number(pm, "wpml:margin", pp)
        self.flag(pm, "wpml:singleLineEnable", pp)
        self.number(pm, "wpml:cuttingDistance", pp)
        self.flag(pm, "wpml:boundaryOptimEnable", pp)
        self.number(pm, "wpml:leftExtend", pp, integer=True)
        self.number(pm, "wpml:rightExtend", pp, integer=True)
        self.flag(pm, "wpml:includeCenterEnable", pp)
        self.check_overlap(pm, pp)
        self.number(pm, "wpml:ellipsoidHeight", pp)
        self.number(pm, "wpml:height", pp)
        line = pm.find(self.q("LineString") + "/" + self.q("coordinates"))
        if line is None:
            self.bad(f"{pp}/LineString/coordinates", "is missing (the strip's centre line)")
        else:
            self.check_line(line, f"{pp}/LineString/coordinates", 2)

    def check_overlap(self, pm: ET.Element, pp: str) -> None:
        """"Template.kml", overlap rates: integer percentages in [0, 100], none required."""
        ov = self.child(pm, "wpml:overlap", pp, False)
        if ov is None:
            return
        for c in list(ov):
            name = "wpml:" + c.tag.split("}")[-1]
            self.number(ov, name, f"{pp}/wpml:overlap", integer=True, lo=0, hi=100)

    # --- waylines.wpml ("Waylines.wpml") -------------------------------------------------------

    def check_waylines(self, root: ET.Element, ns: str, template_ids: set[int] | None) -> None:
        self.ns, self.group_ids = ns, set()
        path = f"{WAYLINES}/kml"
        doc = self.child(root, "Document", path, True)
        if doc is None:
            return
        path += "/Document"
        self.check_mission_config(doc, path)
        folders = self.children(doc, "Folder")
        if not folders:
            self.bad(f"{path}/Folder", "is missing (no wayline)")
        wayline_ids: set[int] = set()
        for fi, folder in enumerate(folders):
            fp = f"{path}/Folder[{fi}]"
            tid = self.ident(folder, "wpml:templateId", fp)
            # The templateId ties the wayline to its template in template.kml.
            if tid is not None and template_ids is not None and tid not in template_ids:
                self.bad(f"{fp}/wpml:templateId",
                         f"{tid} is no template's templateId in {TEMPLATE}")
            wid = self.ident(folder, "wpml:waylineId", fp)
            if wid is not None:
                if wid in wayline_ids:
                    self.bad(f"{fp}/wpml:waylineId", f"{wid} is not unique")
                wayline_ids.add(wid)
            self.number(folder, "wpml:autoFlightSpeed", fp, lo=SPEED[0], hi=SPEED[1])
            self.enum(folder, "wpml:executeHeightMode", fp, EXECUTE_HEIGHT_MODES)
            self.number(folder, "wpml:distance", fp, required=False, lo=0)
            self.number(folder, "wpml:duration", fp, required=False, lo=0)
            placemarks = self.children(folder, "Placemark")
            if not placemarks:
                self.bad(f"{fp}/Placemark", "is missing (a wayline without waypoints)")
            for pi, pm in enumerate(placemarks):
                pp = f"{fp}/Placemark[{pi}]"
                self.check_point(pm, pp)
                self.check_index(pm, pp, pi)
                self.number(pm, "wpml:executeHeight", pp)
                self.number(pm, "wpml:waypointSpeed", pp, required=False, lo=SPEED[0], hi=SPEED[1])
                h = self.child(pm, "wpml:waypointHeadingParam", pp, False)
                if h is not None:
                    self.check_heading(h, f"{pp}/wpml:waypointHeadingParam")
                # Marked required without condition on the English page.
                t = self.child(pm, "wpml:waypointTurnParam", pp, True)
                turn = None
                if t is not None:
                    turn = self.check_turn(t, f"{pp}/wpml:waypointTurnParam", pm)
                self.flag(pm, "wpml:useStraightLine", pp, required=turn in CURVED_TURNS)
            self.check_action_groups(placemarks, fp, unique_ids=True)
            start = self.child(folder, "wpml:startActionGroup", fp, False)
            if start is not None:
                for ai, a in enumerate(self.children(start, "wpml:action")):
                    self.check_action(a, f"{fp}/wpml:startActionGroup/wpml:action[{ai}]", None)

    # --- "Common Elements" -------------------------------------------------------------------

    def check_index(self, pm: ET.Element, pp: str, expected: int) -> None:
        """wpml:index: "must start from 0 and increase monotonically and continuously"."""
        i = self.ident(pm, "wpml:index", pp)
        if i is not None and i != expected:
            self.bad(f"{pp}/wpml:index",
                     f"{i} where {expected} comes next (indices run 0, 1, 2, …)")

    def check_heading(self, h: ET.Element, hp: str) -> None:
        mode = self.enum(h, "wpml:waypointHeadingMode", hp, HEADING_MODES)
        smooth = mode == "smoothTransition"
        self.number(h, "wpml:waypointHeadingAngle", hp, required=smooth, lo=-180, hi=180)
        poi = self.text(h, "wpml:waypointPoiPoint", hp, mode == "towardPOI")
        if poi is not None and mode == "towardPOI":
            self.check_lat_lon_alt(poi, f"{hp}/wpml:waypointPoiPoint")
        # Marked required, yet absent from all three DJI-made files.
        self.enum(h, "wpml:waypointHeadingPathMode", hp, HEADING_PATH_MODES, required=False)
        self.flag(h, "wpml:waypointHeadingAngleEnable", hp, required=False)

    def check_turn(self, t: ET.Element, tp: str, pm: ET.Element) -> str | None:
        mode = self.enum(t, "wpml:waypointTurnMode", tp, TURN_MODES)
        straight = (pm.findtext(self.q("wpml:useStraightLine")) or "").strip()
        needs_damping = mode == "coordinateTurn" or (
            mode == "toPointAndPassWithContinuityCurvature" and straight == "1")
        if needs_damping:
            # (0, the segment's length]
            self.number(t, "wpml:waypointTurnDampingDist", tp, above=0)
        else:
            self.number(t, "wpml:waypointTurnDampingDist", tp, required=False)
        return mode

    def check_action_groups(self, placemarks: list[ET.Element], fp: str, unique_ids: bool) -> None:
        count = len(placemarks)
        for pi, pm in enumerate(placemarks):
            for gi, g in enumerate(self.children(pm, "wpml:actionGroup")):
                gp = f"{fp}/Placemark[{pi}]/wpml:actionGroup[{gi}]"
                self.check_action_group(g, gp, count, unique_ids)

    def check_action_group(self, g: ET.Element, gp: str, waypoints: int, unique_ids: bool) -> None:
        gid = self.ident(g, "wpml:actionGroupId", gp)
        if gid is not None:
            # "unique within a kmz file"; DJI's Payload-SDK file repeats the waylines.wpml ids in
            # template.kml, so uniqueness is checked within each file.
            if gid in self.group_ids:
                self.bad(f"{gp}/wpml:actionGroupId", f"{gid} is not unique in the file")
            self.group_ids.add(gid)
        # The indices are waypoint indices of this wayline.
        last = waypoints - 1
        start = self.ident(g, "wpml:actionGroupStartIndex", gp)
        end = self.ident(g, "wpml:actionGroupEndIndex", gp)
        if start is not None and start > last:
            self.bad(f"{gp}/wpml:actionGroupStartIndex",
                     f"{start} is past the last waypoint ({last})")
        if end is not None and end > last:
            self.bad(f"{gp}/wpml:actionGroupEndIndex", f"{end} is past the last waypoint ({last})")
        if start is not None and end is not None and end < start:
            self.bad(f"{gp}/wpml:actionGroupEndIndex",
                     f"{end} is before actionGroupStartIndex {start}")
        self.enum(g, "wpml:actionGroupMode", gp, GROUP_MODES)
        trigger = self.child(g, "wpml:actionTrigger", gp, True)
        kind = None
        if trigger is not None:
            tp = f"{gp}/wpml:actionTrigger"
            kind = self.enum(trigger, "wpml:actionTriggerType", tp, TRIGGER_TYPES)
            self.number(trigger, "wpml:actionTriggerParam", tp, required=False, above=0)
        ids: set[int] = set()
        for ai, a in enumerate(self.children(g, "wpml:action")):
            ap = f"{gp}/wpml:action[{ai}]"
            aid = self.check_action(a, ap, kind)
            # "unique within an action group"; Pilot 2 writes actionId 0 for every action of
            # template.kml (the Payload-SDK file), so only waylines.wpml is held to it.
            if aid is not None and unique_ids:
                if aid in ids:
                    self.bad(f"{ap}/wpml:actionId", f"{aid} is not unique in its group")
                ids.add(aid)

    def check_action(self, a: ET.Element, ap: str, trigger: str | None) -> int | None:
        aid = self.ident(a, "wpml:actionId", ap)
        func = self.enum(a, "wpml:actionActuatorFunc", ap, ACTUATOR_FUNCS)
        if func is None:
            return aid
        needs = func in REQUIRED_PARAMS and bool(REQUIRED_PARAMS[func])
        params = self.child(a, "wpml:actionActuatorFuncParam", ap, needs)
        if params is not None:
            pp = f"{ap}/wpml:actionActuatorFuncParam"
            for name in REQUIRED_PARAMS.get(func, ()):
                kind = PARAM_KINDS.get(name, "number")
                if kind == "flag":
                    self.flag(params, name, pp)
                elif kind == "text":
                    self.text(params, name, pp, True)
                elif kind == "index":
                    self.number(params, name, pp, integer=True, lo=0, hi=2)
                else:
                    self.number(params, name, pp)
            if func == "gimbalRotate":
                self.enum(params, "wpml:gimbalRotateMode", pp, GIMBAL_ROTATE_MODES)
                self.enum(params, "wpml:gimbalHeadingYawBase", pp, GIMBAL_YAW_BASES, required=False)
                lo, hi = PITCH_RANGE.get(self.drone_enum, WIDEST_PITCH)
                self.number(params, "wpml:gimbalPitchRotateAngle", pp, lo=lo, hi=hi)
            elif func == "gimbalEvenlyRotate":
                lo, hi = PITCH_RANGE.get(self.drone_enum, WIDEST_PITCH)
                self.number(params, "wpml:gimbalPitchRotateAngle", pp, lo=lo, hi=hi)
                if trigger is not None and trigger != "betweenAdjacentPoints":
                    self.bad(f"{ap}/wpml:actionActuatorFunc", "gimbalEvenlyRotate needs the"
                             f" betweenAdjacentPoints trigger, not {trigger}")
            elif func == "hover":
                self.number(params, "wpml:hoverTime", pp, above=0)
            elif func == "rotateYaw":
                self.number(params, "wpml:aircraftHeading", pp, lo=-180, hi=180)
                self.enum(params, "wpml:aircraftPathMode", pp, AIRCRAFT_PATH_MODES, required=False)
            elif func == "zoom":
                self.number(params, "wpml:focalLength", pp, above=0)
            elif func == "focus":
                point = self.flag(params, "wpml:isPointFocus", pp)
                for name in ("wpml:focusX", "wpml:focusY"):
                    self.number(params, name, pp, lo=0, hi=1)
                for name in ("wpml:focusRegionWidth", "wpml:focusRegionHeight"):
                    self.number(params, name, pp, required=point == 0, lo=0, hi=1)
                self.flag(params, "wpml:isInfiniteFocus", pp, required=False)
        return aid


# "Common Elements", actionActuatorFuncParam tables: the parameters every listed aircraft needs
# (model-specific ones, and those DJI's own files leave out, are not required; hover, zoom,
# focus, rotateYaw, gimbalRotate and gimbalEvenlyRotate have their ranged parameters checked in
# check_action). accurateShoot, orientedShoot, panoShot and recordPointCloud carry photo
# metadata from a previous flight and are not checked further.
REQUIRED_PARAMS = {
    "takePhoto": ("wpml:payloadPositionIndex", "wpml:useGlobalPayloadLensIndex"),
    "startRecord": ("wpml:payloadPositionIndex", "wpml:useGlobalPayloadLensIndex"),
    "stopRecord": ("wpml:payloadPositionIndex",),
    "focus": ("wpml:payloadPositionIndex",),
    "zoom": ("wpml:payloadPositionIndex",),
    "customDirName": ("wpml:payloadPositionIndex",),
    "gimbalRotate": (
        "wpml:payloadPositionIndex",
        "wpml:gimbalPitchRotateEnable",
        "wpml:gimbalRollRotateEnable",
        "wpml:gimbalRollRotateAngle",
        "wpml:gimbalYawRotateEnable",
        "wpml:gimbalYawRotateAngle",
        "wpml:gimbalRotateTimeEnable",
        "wpml:gimbalRotateTime",
    ),
    "gimbalEvenlyRotate": ("wpml:payloadPositionIndex",),
    "hover": ("wpml:hoverTime",),
    "rotateYaw": ("wpml:aircraftHeading",),
}
PARAM_KINDS = {
    "wpml:payloadPositionIndex": "index",
    "wpml:useGlobalPayloadLensIndex": "flag",
    "wpml:gimbalPitchRotateEnable": "flag",
    "wpml:gimbalRollRotateEnable": "flag",
    "wpml:gimbalYawRotateEnable": "flag",
    "wpml:gimbalRotateTimeEnable": "flag",
}


def parse_number(v: str, integer: bool) -> float | None:
    v = v.strip()
    if integer:
        return float(int(v)) if re.fullmatch(r"[+-]?\d+", v) else None
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def fmt(x) -> str:
    if x is None:
        return "…"
    return str(int(x)) if float(x).is_integer() else str(x)


def short(v: str) -> str:
    return v if len(v) <= 40 else v[:40] + "…"


def check_file(filename: str) -> list[tuple[str, str]]:
    c = Checker()
    try:
        c.check(filename)
    except RecursionError:
        c.bad("KMZ", "nesting too deep")
    return c.problems


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0].strip() + "\n\nusage: check_wpml.py FILE.kmz [FILE.kmz ...]",
              file=sys.stderr)
        return 2
    failed = False
    for filename in argv[1:]:
        problems = check_file(filename)
        if problems:
            failed = True
            for path, message in problems:
                print(f"{filename}: {path}: {message}")
        else:
            print(f"ok {filename}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
