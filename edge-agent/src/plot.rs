//! A precision/recall plot as a PNG: plotters draws into an RGB buffer and `image` encodes it.
//!
//! Text is drawn with a font the binary embeds (DejaVu Sans, `assets/DejaVuSans.LICENSE`):
//! plotters' system-font lookup needs fontconfig and FreeType, which the agent does without.

use std::path::Path;
use std::sync::LazyLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const COLOURS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Why a plot was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The embedded font did not load.
    #[error("the embedded font does not load")]
    Font,
    /// Plotters could not draw the chart.
    #[error("drawing the chart")]
    Draw(#[source] DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>),
    /// The PNG could not be encoded or written.
    #[error("saving the PNG")]
    Write(#[from] image::ImageError),
}

/// Draws one curve per class (`(recall, precision)` points, in the order given) with labelled
/// axes, a 0.1 grid and a legend naming the classes.
pub fn pr_curves(path: &Path, curves: &[(&str, &[(f64, f64)])]) -> Result<(), PlotError> {
    // Plotters keeps fonts in a process-wide registry: register ours once.
    static FONT_REGISTERED: LazyLock<bool> =
        LazyLock::new(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if !*FONT_REGISTERED {
        return Err(PlotError::Font);
    }
    let mut rgb = vec![0; WIDTH as usize * HEIGHT as usize * 3];
    draw(&mut rgb, curves).map_err(PlotError::Draw)?;
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, rgb)
        .expect("the buffer holds WIDTH x HEIGHT RGB pixels");
    Ok(img.save(path)?)
}

fn draw(
    rgb: &mut [u8],
    curves: &[(&str, &[(f64, f64)])],
) -> DrawResult<(), BitMapBackend<'static>> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        // A line every 0.1, labelled.
        .x_labels(11)
        .y_labels(11)
        .max_light_lines(0)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    for (i, (class, points)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let style = colour.stroke_width(3);
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .map(|&(r, p)| (r.clamp(0.0, 1.0), p.clamp(0.0, 1.0))),
                style,
            ))?
            .label(*class)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_has_each_class_curve_and_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pr.png");
        let stall = [(0.0, 1.0), (0.5, 0.9), (1.0, 0.4)];
        let shed = [(0.0, 0.8), (0.6, 0.6), (0.9, 0.1)];
        pr_curves(&path, &[("stall", &stall), ("steel_shed", &shed)]).unwrap();

        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
        let count = |c: RGBColor| img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        // Each curve is drawn (its legend swatch alone is a few dozen pixels), no third one.
        for colour in &COLOURS[..2] {
            let n = count(*colour);
            assert!(n > 500, "{colour:?}: {n} pixels");
        }
        assert_eq!(count(COLOURS[2]), 0);
        // Text is drawn: glyphs are anti-aliased into many greys, where the axes, grid and
        // legend box are a few flat ones.
        let greys: std::collections::BTreeSet<u8> = img
            .pixels()
            .filter(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
            .map(|p| p.0[0])
            .collect();
        assert!(greys.len() > 50, "{} grey levels", greys.len());
    }
}
