//! Text in the pictures: the glyphs of DejaVu Sans (a Latin subset in `assets/fonts/`,
//! compiled into the binary) rasterised with `ab_glyph` into an RGB buffer.
//!
//! Why not the machine's fonts: a picture drawn with whatever fonts a machine has differs
//! between machines, and the reports must be byte-identical on a rerun anywhere. The font file
//! is part of the binary, and the rasteriser is plain Rust arithmetic (no system library).
//!
//! Why the glyphs are laid out from 0 and then moved by whole pixels: a text drawn at any
//! place then has exactly the same pixels, so a test can render a label on its own
//! ([`label_pixels`]) and find it in a chart as a sub-image.

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use std::sync::OnceLock;

/// DejaVu Sans 2.37, Basic Latin, Latin-1 and a few signs (– — … − ≤ ≥); see
/// `assets/fonts/README.md` for where it comes from and `assets/fonts/LICENSE`.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// The font, parsed once.
fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // The file is compiled in and tested (`the_font_has_the_glyphs_the_charts_use`): it
        // cannot fail at run time.
        FontRef::try_from_slice(FONT_BYTES).expect("the embedded font parses")
    })
}

/// An RGB buffer (3 bytes a pixel, rows top to bottom) to draw text into.
pub(crate) struct Canvas<'a> {
    /// The pixels.
    pub buf: &'a mut [u8],
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

/// One glyph's coverage, relative to the text's top-left corner: whole-pixel offset and
/// the rows of 0..=255 alpha values.
struct GlyphMask {
    x: i32,
    y: i32,
    w: u32,
    h: u32,
    alpha: Vec<u8>,
}

/// A laid-out text: its glyph masks, its advance width and its line height.
struct Layout {
    glyphs: Vec<GlyphMask>,
    width: i32,
    height: i32,
}

/// Lays `text` out at `px` pixels from (0, 0), the top of its line.
fn layout(text: &str, px: f32) -> Layout {
    let font = font().as_scaled(PxScale::from(px));
    let ascent = font.ascent().ceil();
    let mut pen = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::new();
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            pen += font.kern(p, id);
        }
        prev = Some(id);
        let glyph = id.with_scale_and_position(px, point(pen, ascent));
        pen += font.h_advance(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue; // a space
        };
        let b = outlined.px_bounds();
        let (w, h) = (b.width() as u32, b.height() as u32);
        let mut alpha = vec![0u8; (w * h) as usize];
        outlined.draw(|x, y, c| {
            if let Some(a) = alpha.get_mut((y * w + x) as usize) {
                // Quantised once, here: the blend below is integer arithmetic.
                *a = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        });
        glyphs.push(GlyphMask {
            x: b.min.x as i32,
            y: b.min.y as i32,
            w,
            h,
            alpha,
        });
    }
    Layout {
        glyphs,
        width: pen.ceil() as i32,
        height: (font.ascent() - font.descent()).ceil() as i32,
    }
}

/// Width in pixels of `text` at `px` pixels.
pub(crate) fn width(text: &str, px: f32) -> i32 {
    layout(text, px).width
}

/// Height of a line at `px` pixels (ascent plus descent).
pub(crate) fn line_height(px: f32) -> i32 {
    let font = font().as_scaled(PxScale::from(px));
    (font.ascent() - font.descent()).ceil() as i32
}

/// `text` shortened with `…` until it is at most `max` pixels wide (names of custom classes
/// can be long; the HTML legend has them whole).
pub(crate) fn fit(text: &str, px: f32, max: i32) -> String {
    if width(text, px) <= max {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().chain(std::iter::once(&'…')).collect();
        if width(&s, px) <= max {
            return s;
        }
    }
    String::new()
}

/// Draws `text` with its line's top-left corner at (`x`, `y`), blended over what is there;
/// pixels outside the canvas are left out. Returns the text's width.
pub(crate) fn draw(
    canvas: &mut Canvas<'_>,
    x: i32,
    y: i32,
    px: f32,
    text: &str,
    rgb: [u8; 3],
) -> i32 {
    let l = layout(text, px);
    for g in &l.glyphs {
        for gy in 0..g.h {
            for gx in 0..g.w {
                let a = u32::from(g.alpha[(gy * g.w + gx) as usize]);
                let (cx, cy) = (x + g.x + gx as i32, y + g.y + gy as i32);
                if a == 0 || cx < 0 || cy < 0 || cx >= canvas.w as i32 || cy >= canvas.h as i32 {
                    continue;
                }
                let i = (cy as usize * canvas.w as usize + cx as usize) * 3;
                for (k, fg) in rgb.iter().enumerate() {
                    let bg = u32::from(canvas.buf[i + k]);
                    canvas.buf[i + k] = ((u32::from(*fg) * a + bg * (255 - a) + 127) / 255) as u8;
                }
            }
        }
    }
    l.width
}

/// A text drawn on its own: `width × height` RGB pixels on `background`, the text's line at
/// the top-left, as [`draw`] puts it into a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPixels {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB, 3 bytes a pixel, rows top to bottom.
    pub rgb: Vec<u8>,
}

/// `text` at `px` pixels in `colour` on `background`, exactly as the charts draw it: what a
/// test looks for in a chart to tell that a label is there (see
/// [`crate::report::CHART_LABEL_PX`] and [`crate::report::CHART_TEXT_RGB`]).
pub fn label_pixels(text: &str, px: f32, colour: [u8; 3], background: [u8; 3]) -> LabelPixels {
    let l = layout(text, px);
    let width = l.width.max(1) as u32 + 2;
    let height = l.height.max(1) as u32 + 2;
    let mut rgb: Vec<u8> = background
        .iter()
        .copied()
        .cycle()
        .take((width * height * 3) as usize)
        .collect();
    let mut canvas = Canvas {
        buf: &mut rgb,
        w: width,
        h: height,
    };
    draw(&mut canvas, 0, 0, px, text, colour);
    LabelPixels { width, height, rgb }
}

/// Test support: whether `label` (drawn on its own by [`label_pixels`]) appears in an RGB
/// picture `w` pixels wide, pixel for pixel. Only the label's inked rectangle is compared, so
/// the label may sit anywhere on a background of the same colour.
#[cfg(test)]
pub(crate) fn picture_contains(rgb: &[u8], w: u32, label: &LabelPixels) -> bool {
    let bg = &label.rgb[..3];
    let px = |x: u32, y: u32| &label.rgb[((y * label.width + x) * 3) as usize..][..3];
    let inked: Vec<(u32, u32)> = (0..label.height)
        .flat_map(|y| (0..label.width).map(move |x| (x, y)))
        .filter(|(x, y)| px(*x, *y) != bg)
        .collect();
    let (Some(x0), Some(y0)) = (
        inked.iter().map(|p| p.0).min(),
        inked.iter().map(|p| p.1).min(),
    ) else {
        return false;
    };
    let x1 = inked.iter().map(|p| p.0).max().unwrap_or(x0);
    let y1 = inked.iter().map(|p| p.1).max().unwrap_or(y0);
    let h = (rgb.len() / 3) as u32 / w;
    let (nw, nh) = (x1 - x0 + 1, y1 - y0 + 1);
    if nw > w || nh > h {
        return false;
    }
    let at = |x: u32, y: u32| &rgb[((y * w + x) * 3) as usize..][..3];
    (0..=h - nh).any(|oy| {
        (0..=w - nw).any(|ox| {
            (0..nh).all(|dy| (0..nw).all(|dx| at(ox + dx, oy + dy) == px(x0 + dx, y0 + dy)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_has_the_glyphs_the_charts_use() {
        let font = font();
        for c in "0123456789-.,:–…ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_|()>".chars()
        {
            assert_ne!(font.glyph_id(c).0, 0, "{c:?} has a glyph");
        }
    }

    #[test]
    fn text_has_the_same_pixels_wherever_it_is_drawn() {
        let (w, h) = (120u32, 40u32);
        let mut a = vec![255u8; (w * h * 3) as usize];
        let mut b = a.clone();
        draw(
            &mut Canvas { buf: &mut a, w, h },
            3,
            2,
            12.0,
            "USD 2026-11-21",
            [0, 0, 0],
        );
        draw(
            &mut Canvas { buf: &mut b, w, h },
            17,
            9,
            12.0,
            "USD 2026-11-21",
            [0, 0, 0],
        );
        let ink = |buf: &[u8], x: u32, y: u32| buf[((y * w + x) * 3) as usize];
        let mut dark = 0;
        for y in 0..h - 9 {
            for x in 0..w - 17 {
                assert_eq!(ink(&a, x, y), ink(&b, x + 14, y + 7), "pixel {x},{y}");
                dark += usize::from(ink(&a, x, y) < 128);
            }
        }
        assert!(dark > 50, "the text left ink ({dark} dark pixels)");
    }

    #[test]
    fn long_names_are_shortened_to_fit() {
        let long = "a_custom_class_with_a_very_long_name";
        let short = fit(long, 12.0, 100);
        assert!(short.ends_with('…'), "{short}");
        assert!(width(&short, 12.0) <= 100);
        assert_eq!(fit("USD", 12.0, 100), "USD");
    }

    #[test]
    fn text_outside_the_canvas_is_left_out() {
        let (w, h) = (10u32, 10u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        draw(
            &mut Canvas {
                buf: &mut buf,
                w,
                h,
            },
            -50,
            -50,
            12.0,
            "WWWW",
            [0, 0, 0],
        );
        draw(
            &mut Canvas {
                buf: &mut buf,
                w,
                h,
            },
            6,
            1,
            12.0,
            "WWWW",
            [0, 0, 0],
        );
        assert!(buf.iter().any(|b| *b < 255), "the corner shows part of a W");
    }
}
