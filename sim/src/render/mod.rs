//! A CPU renderer of the district through a posed pinhole camera.
//!
//! The ground (with roads, markings, yards and roofs baked into a lit [`GroundTexture`]) is drawn
//! by intersecting each pixel's ray with the ground plane. Buildings and objects are convex
//! planar faces rasterised into a depth buffer whose depth is the ray parameter of each pixel's
//! own ray, so every pixel lands exactly where the camera model puts it, distortion included.
//! Shading happens once per pixel in a final pass, which also adds haze and sensor noise and
//! records which object each pixel shows (for ground truth).

mod light;
mod paint;
mod raster;
mod solids;
pub mod texture;

pub use light::Lighting;
pub use raster::{ObjectView, Renderer};
pub use texture::GroundTexture;

use argus_core::linalg::Vec3;

use crate::district::District;

/// Default ground texture resolution, metres per texel.
pub const DEFAULT_TEXEL_M: f64 = 0.125;

/// Everything needed to render a district under one lighting.
#[derive(Debug)]
pub struct Scene {
    texture: GroundTexture,
    faces: Vec<solids::Face>,
    /// Corners of each object's solids, by object index.
    object_corners: Vec<Vec<Vec3>>,
    lighting: Lighting,
    background_seed: u32,
    /// Objects not drawn (not yet arrived, in a street camera's scenario).
    hidden: Vec<bool>,
}

impl Scene {
    /// Builds the scene from a district's painted (unlit) texture, lit by `lighting`.
    pub fn new(district: &District, albedo: &GroundTexture, lighting: Lighting) -> Self {
        Self::with_hidden(
            district,
            albedo,
            lighting,
            vec![false; district.objects.len()],
        )
    }

    /// Like [`Scene::new`], with some objects hidden at first; they cast no baked shadow, so
    /// they can appear later with [`Scene::set_hidden`].
    pub fn with_hidden(
        district: &District,
        albedo: &GroundTexture,
        lighting: Lighting,
        hidden: Vec<bool>,
    ) -> Self {
        assert_eq!(hidden.len(), district.objects.len(), "one flag per object");
        let all = solids::solids(district);
        let casting: Vec<solids::Solid> = all
            .iter()
            .filter(|s| s.owner & solids::BUILDING != 0 || !hidden[s.owner as usize])
            .cloned()
            .collect();
        let mut object_corners = vec![Vec::new(); district.objects.len()];
        for s in all.iter().filter(|s| s.owner & solids::BUILDING == 0) {
            object_corners[s.owner as usize].extend(s.corners());
        }
        Self {
            texture: albedo.lit(&lighting, &solids::shadows(&casting, &lighting)),
            faces: solids::faces(&all, &lighting),
            object_corners,
            lighting,
            background_seed: district.seed as u32,
            hidden,
        }
    }

    /// Shows or hides an object.
    pub fn set_hidden(&mut self, object: usize, hidden: bool) {
        self.hidden[object] = hidden;
    }

    fn is_hidden(&self, owner: u32) -> bool {
        owner & solids::BUILDING == 0 && self.hidden[owner as usize]
    }

    /// The lighting of this scene.
    pub fn lighting(&self) -> &Lighting {
        &self.lighting
    }

    /// Number of objects the scene knows (the district's objects).
    pub fn object_count(&self) -> usize {
        self.object_corners.len()
    }
}
