//! The synthetic district: streets, buildings, the map layers the rules read, and the objects
//! (violations, legal look-alikes, distractors) whose truth the renderer reproduces exactly.
//!
//! All geometry is kept in local metres (east, north) of a [`LocalFrame`] anchored at the
//! district's centre; [`geojson`] converts to and from WGS84 GeoJSON, which is the district's
//! file format and the single source of truth for every later command.

pub mod generate;
pub mod geojson;

use argus_core::geodesy::{GeoPoint, LocalFrame};
use serde::{Deserialize, Serialize};

use crate::geom::P2;

/// The violation classes of the mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ViolationClass {
    /// 占道经营: a stall, cart or goods spread in a lane or on a footway outside an open zone.
    VendingInLane,
    /// 建筑垃圾: spoil, rubble or bagged rubbish dumped outside a construction site.
    ConstructionWaste,
    /// 违法建设: a structure absent from the building baseline.
    IllegalStructure,
}

impl ViolationClass {
    /// The snake-case name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VendingInLane => "vending_in_lane",
            Self::ConstructionWaste => "construction_waste",
            Self::IllegalStructure => "illegal_structure",
        }
    }
}

/// What the detector sees: the object classes of the datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DetClass {
    /// Stalls, carts and goods spreads.
    Stall,
    /// Spoil, rubble and bagged rubbish.
    WastePile,
    /// Blue steel-sheet sheds.
    SteelShed,
}

impl DetClass {
    /// All classes, in category-id order (COCO ids are this index + 1, YOLO ids this index).
    pub const ALL: [DetClass; 3] = [DetClass::Stall, DetClass::WastePile, DetClass::SteelShed];

    /// The snake-case name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stall => "stall",
            Self::WastePile => "waste_pile",
            Self::SteelShed => "steel_shed",
        }
    }

    /// The position of this class in [`DetClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an object is; decides its shape, look and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ObjectKind {
    Stall,
    Cart,
    Goods,
    Spoil,
    Rubble,
    Bags,
    Shed,
    Car,
    Truck,
    Person,
    Umbrella,
    Tree,
}

impl ObjectKind {
    /// The detector class this kind belongs to, if any (distractors have none).
    pub fn det_class(self) -> Option<DetClass> {
        match self {
            Self::Stall | Self::Cart | Self::Goods => Some(DetClass::Stall),
            Self::Spoil | Self::Rubble | Self::Bags => Some(DetClass::WastePile),
            Self::Shed => Some(DetClass::SteelShed),
            _ => None,
        }
    }

    /// The violation class an object of this kind is, where it is illegal.
    pub fn violation_class(self) -> Option<ViolationClass> {
        self.det_class().map(|c| match c {
            DetClass::Stall => ViolationClass::VendingInLane,
            DetClass::WastePile => ViolationClass::ConstructionWaste,
            DetClass::SteelShed => ViolationClass::IllegalStructure,
        })
    }
}

/// A placed object: a violation, a legal look-alike or a distractor.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// `V…` for violations, `N…` for legal look-alikes, `D…` for distractors.
    pub id: String,
    /// What it is.
    pub kind: ObjectKind,
    /// Whether it is a violation at the district's scene time.
    pub violation: bool,
    /// Why it is (or is not) a violation: the layer and feature that decide.
    pub rule: String,
    /// Footprint centre, local metres.
    pub center: P2,
    /// Heading of the long side, radians clockwise from north.
    pub yaw: f64,
    /// Footprint length, metres.
    pub length: f64,
    /// Footprint width, metres.
    pub width: f64,
    /// Height of the object itself, metres.
    pub height: f64,
    /// Height of its base above the ground plane (a rooftop shed stands on its roof).
    pub elev: f64,
    /// Appearance variant (colour scheme), any value.
    pub variant: u32,
}

/// Roof finishes, each rendered differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum RoofType {
    Concrete,
    Gravel,
    Tile,
    Green,
    Metal,
}

/// A building: a flat-topped prism.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    /// `B…`.
    pub id: String,
    /// Footprint ring, local metres.
    pub footprint: Vec<P2>,
    /// Height of the roof above the ground plane, metres.
    pub height: f64,
    /// Roof finish.
    pub roof: RoofType,
    /// Appearance variant.
    pub variant: u32,
}

/// A ground surface: carriageway, footway, plaza, yard, …
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Identifier.
    pub id: String,
    /// `carriageway`, `junction`, `footway`, `plaza`, `grass`, `paving`, `dirt`.
    pub kind: String,
    /// The outline, local metres.
    pub ring: Vec<P2>,
}

/// One traffic lane: a strip of a carriageway along a centre line.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// `L…`.
    pub id: String,
    /// The road it belongs to.
    pub road: String,
    /// Start of the centre line, local metres.
    pub start: P2,
    /// End of the centre line (the direction of travel).
    pub end: P2,
    /// Lane width, metres.
    pub width: f64,
    /// Whether its left edge is the road's centre line (opposing traffic beyond).
    pub left_is_centre: bool,
    /// Whether its right edge is the kerb.
    pub right_is_kerb: bool,
}

impl Lane {
    /// The lane's outline.
    pub fn ring(&self) -> Vec<P2> {
        let (dx, dy) = (self.end[0] - self.start[0], self.end[1] - self.start[1]);
        let len = (dx * dx + dy * dy).sqrt();
        let c = [
            (self.start[0] + self.end[0]) / 2.0,
            (self.start[1] + self.end[1]) / 2.0,
        ];
        crate::geom::oriented_rect(c, len, self.width, dx.atan2(dy))
    }
}

/// A permitted vending zone with its opening hours (minutes after local midnight).
#[derive(Debug, Clone, PartialEq)]
pub struct VendingZone {
    /// `Z…`.
    pub id: String,
    /// Outline.
    pub ring: Vec<P2>,
    /// Opening windows `[from, to)` in minutes after midnight.
    pub hours: Vec<(u32, u32)>,
}

impl VendingZone {
    /// Whether the zone is open at `minute` after midnight.
    pub fn is_open(&self, minute: u32) -> bool {
        self.hours.iter().any(|&(a, b)| minute >= a && minute < b)
    }

    /// The hours as written in files: `06:00-09:00,17:00-22:30`.
    pub fn hours_text(&self) -> String {
        argus_core::map::format_hours(&self.hours)
    }
}

/// A named polygon: construction site, jurisdiction, grid cell, baseline structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Identifier (a unit id for jurisdictions, a cell code for grid cells).
    pub id: String,
    /// Display name or kind.
    pub name: String,
    /// Outline.
    pub ring: Vec<P2>,
}

/// A whole district.
#[derive(Debug, Clone, PartialEq)]
pub struct District {
    /// The seed it was generated from.
    pub seed: u64,
    /// The WGS84 anchor of the local frame (the district's centre).
    pub origin: GeoPoint,
    /// Side of the (rotated) square district, metres.
    pub size_m: f64,
    /// Rotation of the street grid, degrees counter-clockwise from east.
    pub rotation_deg: f64,
    /// Local time the district's state describes (vending zones open or closed), minutes.
    pub scene_minute: u32,
    /// The district's outline.
    pub boundary: Vec<P2>,
    /// Carriageways and junctions.
    pub roads: Vec<Area>,
    /// Lanes.
    pub lanes: Vec<Lane>,
    /// Footways.
    pub footways: Vec<Area>,
    /// Other ground surfaces (plazas, yards, grass, construction dirt).
    pub grounds: Vec<Area>,
    /// Buildings.
    pub buildings: Vec<Building>,
    /// Permitted vending zones.
    pub vending_zones: Vec<VendingZone>,
    /// Registered construction sites.
    pub construction_sites: Vec<Region>,
    /// The building baseline (buildings and legal sheds of the last survey).
    pub baseline: Vec<Region>,
    /// Jurisdictions (responsible units).
    pub jurisdictions: Vec<Region>,
    /// Management grid cells.
    pub grid_cells: Vec<Region>,
    /// Placed objects.
    pub objects: Vec<Object>,
}

impl District {
    /// A district with its frame and outline but no features yet.
    pub fn empty(
        seed: u64,
        origin: GeoPoint,
        size_m: f64,
        rotation_deg: f64,
        scene_minute: u32,
        boundary: Vec<P2>,
    ) -> Self {
        Self {
            seed,
            origin,
            size_m,
            rotation_deg,
            scene_minute,
            boundary,
            roads: vec![],
            lanes: vec![],
            footways: vec![],
            grounds: vec![],
            buildings: vec![],
            vending_zones: vec![],
            construction_sites: vec![],
            baseline: vec![],
            jurisdictions: vec![],
            grid_cells: vec![],
            objects: vec![],
        }
    }

    /// The local frame of this district.
    pub fn frame(&self) -> LocalFrame {
        LocalFrame::new(self.origin)
    }

    /// Whether a local point lies inside the district.
    pub fn contains(&self, p: P2) -> bool {
        crate::geom::contains(&self.boundary, p)
    }

    /// The objects a detector should find (violations and look-alikes), with their class.
    pub fn detectable(&self) -> impl Iterator<Item = (usize, &Object, DetClass)> {
        self.objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.kind.det_class().map(|c| (i, o, c)))
    }
}
