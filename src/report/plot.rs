//! What the two pictures (`chart.png`, `age.png`) share: an RGB picture with filled
//! rectangles and text, a title with a colour legend, panels with a scale on the left and
//! dates under the bars, and the PNG encoding.
//!
//! Why drawn by hand: the pictures are rectangles and text, nothing more; every pixel comes
//! from integer geometry and the embedded font ([`super::text`]), so the same input gives the
//! same bytes on any machine.

use super::amount_display;
use super::text::{self, Canvas};
use rust_decimal::Decimal;

/// Size in pixels of the labels (dates, scale, legend).
pub const LABEL_PX: f32 = 12.0;
/// Size in pixels of the title and of each panel's currency.
pub const HEADING_PX: f32 = 14.0;
/// Colour of the text (on white).
pub const TEXT_RGB: [u8; 3] = [40, 40, 40];
const MUTED_RGB: [u8; 3] = [105, 105, 105];
const PLOT_BG: [u8; 3] = [248, 248, 248];
const GRID: [u8; 3] = [215, 215, 215];
const AXIS: [u8; 3] = [90, 90, 90];
/// Space around everything, in pixels.
pub(super) const MARGIN: i32 = 12;
const TITLE_HEIGHT: i32 = 28;
const LEGEND_COLUMNS: usize = 5;
const LEGEND_ROW: i32 = 18;
/// Above a panel's plot: its currency.
const PANEL_HEAD: i32 = 30;
/// Below a panel's plot: its dates.
const PANEL_FOOT: i32 = 26;

/// Height of the title and legend for `entries` legend entries.
pub(super) fn header_height(entries: usize) -> u32 {
    let rows = entries.div_ceil(LEGEND_COLUMNS).max(1) as i32;
    (TITLE_HEIGHT + rows * LEGEND_ROW + 8) as u32
}

/// A picture being drawn: white RGB pixels, `w × h`.
pub(super) struct Picture {
    buf: Vec<u8>,
    w: u32,
    h: u32,
}

impl Picture {
    pub(super) fn new(w: u32, h: u32) -> Picture {
        Picture {
            buf: vec![255u8; (w as usize) * (h as usize) * 3],
            w,
            h,
        }
    }

    /// Fills the rectangle from (`x0`, `y0`) to (`x1`, `y1`), both corners included, clipped
    /// to the picture.
    pub(super) fn fill(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, rgb: [u8; 3]) {
        let (x0, x1) = (x0.max(0), x1.min(self.w as i32 - 1));
        let (y0, y1) = (y0.max(0), y1.min(self.h as i32 - 1));
        for y in y0..=y1 {
            for x in x0..=x1 {
                let i = (y as usize * self.w as usize + x as usize) * 3;
                self.buf[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }

    /// Draws `s` with its line's top-left at (`x`, `y`); returns its width.
    pub(super) fn text(&mut self, x: i32, y: i32, px: f32, s: &str, rgb: [u8; 3]) -> i32 {
        let mut canvas = Canvas {
            buf: &mut self.buf,
            w: self.w,
            h: self.h,
        };
        text::draw(&mut canvas, x, y, px, s, rgb)
    }

    /// The PNG bytes (8-bit RGB, no metadata: nothing that differs between runs).
    pub(super) fn png(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.w, self.h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| format!("encode: {e}"))?;
        wr.write_image_data(&self.buf)
            .map_err(|e| format!("encode: {e}"))?;
        wr.finish().map_err(|e| format!("encode: {e}"))?;
        Ok(out)
    }
}

/// A picture decoded back from its PNG bytes: (width, height, RGB), for the tests of both
/// charts.
#[cfg(test)]
pub(super) fn decoded(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// The title, then the legend: a swatch and a name per entry, in rows of five.
pub(super) fn header(pic: &mut Picture, title: &str, entries: &[(String, (u8, u8, u8))]) {
    let max_title = pic.w as i32 - 2 * MARGIN;
    let title = text::fit(title, HEADING_PX, max_title);
    pic.text(MARGIN, 7, HEADING_PX, &title, TEXT_RGB);
    let column = (pic.w as i32 - 2 * MARGIN) / LEGEND_COLUMNS as i32;
    for (i, (name, (r, g, b))) in entries.iter().enumerate() {
        let x = MARGIN + (i % LEGEND_COLUMNS) as i32 * column;
        let y = TITLE_HEIGHT + (i / LEGEND_COLUMNS) as i32 * LEGEND_ROW;
        pic.fill(x, y + 3, x + 11, y + 14, [*r, *g, *b]);
        let name = text::fit(name, LABEL_PX, column - 22);
        pic.text(x + 16, y, LABEL_PX, &name, TEXT_RGB);
    }
}

/// Where a panel's bars go, in pixels: `left..=right`, `top..=bottom` (the baseline).
#[derive(Debug, Clone, Copy)]
pub(super) struct PlotBox {
    pub left: i32,
    pub right: i32,
    pub top: i32,
    pub bottom: i32,
}

impl PlotBox {
    /// The plot of the panel whose top edge is at `panel_top`, `panel_h` high, with `axis`
    /// pixels on the left for the scale.
    pub(super) fn of_panel(panel_top: i32, panel_h: i32, axis: i32, pic_w: u32) -> PlotBox {
        PlotBox {
            left: MARGIN + axis,
            right: pic_w as i32 - MARGIN - 8,
            top: panel_top + PANEL_HEAD,
            bottom: panel_top + panel_h - PANEL_FOOT,
        }
    }

    /// Pixels from the left to the right edge of slot `i` of `n` (a day or a run): the
    /// bar's first and last column, with a gap between bars when they are wide enough.
    pub(super) fn slot(&self, i: usize, n: usize) -> (i32, i32) {
        let w = i64::from(self.right - self.left);
        let n = n.max(1) as i64;
        let (a, b) = (w * i as i64 / n, w * (i as i64 + 1) / n);
        let gap = if b - a >= 4 {
            ((b - a) * 15 / 100).max(1)
        } else {
            0
        };
        let x0 = self.left + (a + gap) as i32;
        let x1 = (self.left + (b - gap) as i32 - 1).max(x0);
        (x0, x1)
    }

    /// Pixel row of `v` on a scale from 0 (the baseline) to `peak` (the top).
    pub(super) fn y_of(&self, v: f64, peak: f64) -> i32 {
        self.bottom - (v / peak * f64::from(self.bottom - self.top)).round() as i32
    }
}

/// A panel's heading: the currency large, then a note in grey.
pub(super) fn panel_heading(pic: &mut Picture, panel_top: i32, currency: &str, note: &str) {
    let x = MARGIN + pic.text(MARGIN, panel_top + 6, HEADING_PX, currency, TEXT_RGB);
    let note = text::fit(note, LABEL_PX, pic.w as i32 - x - MARGIN - 12);
    pic.text(x + 12, panel_top + 8, LABEL_PX, &note, MUTED_RGB);
}

/// The scale's labels: 0, a quarter, half, three quarters and all of `peak`, in the
/// currency's minor units (the exact amounts are in the HTML and the files).
pub(super) fn scale_labels(peak: Decimal, currency: &str) -> [String; 5] {
    let exponent = crate::domain::money::exponent(currency);
    std::array::from_fn(|q| {
        let v = (peak * Decimal::from(q as u32) / Decimal::from(4u32)).round_dp(exponent);
        amount_display(v, currency)
    })
}

/// Pixels the scale needs on the left: the widest label and a gap, at least 40.
pub(super) fn axis_width<'a>(labels: impl IntoIterator<Item = &'a String>) -> i32 {
    let widest = labels
        .into_iter()
        .map(|l| text::width(l, LABEL_PX))
        .max()
        .unwrap_or(0);
    (widest + 10).clamp(40, 240)
}

/// The plot's background, a grid line at each quarter labelled on the left (`labels`
/// bottom to top), and the baseline.
pub(super) fn frame(pic: &mut Picture, b: &PlotBox, labels: &[String; 5]) {
    pic.fill(b.left, b.top, b.right, b.bottom, PLOT_BG);
    let half_line = text::line_height(LABEL_PX) / 2;
    for (q, label) in labels.iter().enumerate() {
        let y = b.bottom - (b.bottom - b.top) * q as i32 / 4;
        if q > 0 {
            pic.fill(b.left, y, b.right, y, GRID);
        }
        let x = b.left - 6 - text::width(label, LABEL_PX);
        pic.text(x, y - half_line, LABEL_PX, label, TEXT_RGB);
    }
    pic.fill(b.left, b.bottom, b.right, b.bottom + 1, AXIS);
}

/// Labels under the slots (`label(i)` for slot `i` of `n`): the first and the last always,
/// others evenly spaced where they do not overlap, each with a tick on the baseline.
pub(super) fn slot_labels(
    pic: &mut Picture,
    b: &PlotBox,
    n: usize,
    label: impl Fn(usize) -> String,
) {
    if n == 0 {
        return;
    }
    let widest = text::width(&label(n - 1), LABEL_PX).max(text::width(&label(0), LABEL_PX));
    let room = widest + 16;
    let fit = (((b.right - b.left) / room).max(1)) as usize;
    let step = n.div_ceil(fit).max(1);
    let centre = |i: usize| {
        let (x0, x1) = b.slot(i, n);
        (x0 + x1) / 2
    };
    let last_centre = centre(n - 1);
    let mut shown: Vec<usize> = (0..n)
        .step_by(step)
        .filter(|i| *i == 0 || last_centre - centre(*i) >= room)
        .collect();
    if shown.last() != Some(&(n - 1)) {
        shown.push(n - 1);
    }
    for i in shown {
        let s = label(i);
        let c = centre(i);
        pic.fill(c, b.bottom + 2, c, b.bottom + 5, AXIS);
        let w = text::width(&s, LABEL_PX);
        let x = (c - w / 2).clamp(2, pic.w as i32 - w - 2);
        pic.text(x, b.bottom + 7, LABEL_PX, &s, TEXT_RGB);
    }
}
