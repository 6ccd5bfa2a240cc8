//! Charts as SVG, drawn on the server: line charts (a series per district) and grouped bar
//! charts, each with a title, axis labels and a text alternative (`<title>`, `<desc>`,
//! `role="img"`, `aria-labelledby`). Colours and sizes are presentation attributes, not
//! `style`, so the strict CSP holds. The same numbers are always offered as a table and CSV
//! beside the chart, so nothing depends on seeing it.
//!
//! Written by hand (about 200 lines) rather than taken from a plotting crate: the charts are
//! simple, the output must be inline, accessible SVG, and a crate would bring more than it
//! saves.

use std::fmt::Write;

/// Colours that stay apart for the common colour-vision deficiencies (Okabe–Ito), then dashes
/// for more series than colours.
const COLOURS: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"];

const W: f64 = 760.0;
const H: f64 = 320.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 56.0;

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as Germans write it, with `decimals` places.
pub fn de_num(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}").replace('.', ",")
}

/// One named series; `None` where there is no value.
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// What every chart has.
pub struct Chart<'a> {
    /// Unique on the page: the ids of its title and description.
    pub id: &'a str,
    pub title: &'a str,
    /// The text alternative: what the chart shows, in a sentence or two.
    pub desc: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub categories: &'a [String],
    pub series: &'a [Series],
    /// Fixed top of the y axis (e.g. 100 for percent); otherwise from the data.
    pub y_max: Option<f64>,
}

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn open(out: &mut String, c: &Chart) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="{id}-t {id}-d" class="chart" font-family="system-ui, sans-serif" font-size="12"><title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>"#,
        id = esc(c.id),
        title = esc(c.title),
        desc = esc(c.desc)
    );
}

/// The axes, grid, tick labels and axis titles; returns the y scale's top.
fn axes(out: &mut String, c: &Chart, y_max: f64) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let y = y0 - (y0 - y1) * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end" fill="#333">{label}</text>"##,
            tx = x0 - 6.0,
            ty = y + 4.0,
            label = esc(&de_num(v, if y_max < 10.0 { 1 } else { 0 }))
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>"##
    );
    let n = c.categories.len().max(1);
    // at most about twelve tick labels
    let every = n.div_ceil(12).max(1);
    for (i, cat) in c.categories.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = x0 + (x1 - x0) * (i as f64 + 0.5) / n as f64;
        let _ = write!(
            out,
            r##"<text x="{x:.1}" y="{ty}" text-anchor="middle" fill="#333">{label}</text>"##,
            ty = y0 + 16.0,
            label = esc(cat)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{cx:.1}" y="{by}" text-anchor="middle" fill="#000">{xl}</text><text transform="translate(14 {cy:.1}) rotate(-90)" text-anchor="middle" fill="#000">{yl}</text>"##,
        cx = (x0 + x1) / 2.0,
        by = H - 12.0,
        xl = esc(c.x_label),
        cy = (y0 + y1) / 2.0,
        yl = esc(c.y_label)
    );
}

fn legend(out: &mut String, c: &Chart, marker: &str) {
    for (i, s) in c.series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#000");
        let y = TOP + 8.0 + 18.0 * i as f64;
        let x = W - RIGHT + 16.0;
        let dash = if i >= COLOURS.len() { r#" stroke-dasharray="4 3""# } else { "" };
        if marker == "line" {
            let _ = write!(
                out,
                r#"<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="3"{dash}/>"#,
                x2 = x + 18.0
            );
        } else {
            let _ = write!(out, r#"<rect x="{x}" y="{ry}" width="14" height="10" fill="{colour}"/>"#, ry = y - 5.0);
        }
        let _ = write!(
            out,
            r##"<text x="{tx}" y="{ty}" fill="#000">{name}</text>"##,
            tx = x + 24.0,
            ty = y + 4.0,
            name = esc(&s.name)
        );
    }
}

fn top_of(c: &Chart) -> f64 {
    c.y_max.unwrap_or_else(|| {
        nice_max(c.series.iter().flat_map(|s| s.values.iter().flatten().copied()).fold(0.0, f64::max))
    })
}

/// A line chart: one line per series over the categories (gaps where a value is missing).
pub fn line_chart(c: &Chart) -> String {
    let mut out = String::new();
    open(&mut out, c);
    let y_max = top_of(c);
    axes(&mut out, c, y_max);
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let n = c.categories.len().max(1);
    for (i, s) in c.series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#000");
        let dash = if i >= COLOURS.len() { r#" stroke-dasharray="4 3""# } else { "" };
        let mut path = String::new();
        let mut pen_down = false;
        for (j, v) in s.values.iter().enumerate() {
            let Some(v) = v else {
                pen_down = false;
                continue;
            };
            let x = x0 + (x1 - x0) * (j as f64 + 0.5) / n as f64;
            let y = y0 - (y0 - y1) * (v / y_max).clamp(0.0, 1.0);
            let _ = write!(path, "{}{x:.1} {y:.1} ", if pen_down { "L" } else { "M" });
            pen_down = true;
            let _ = write!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{colour}"/>"#);
        }
        if !path.is_empty() {
            let _ =
                write!(out, r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#, path.trim_end());
        }
    }
    legend(&mut out, c, "line");
    out.push_str("</svg>");
    out
}

/// A grouped bar chart: for each category one bar per series.
pub fn bar_chart(c: &Chart) -> String {
    let mut out = String::new();
    open(&mut out, c);
    let y_max = top_of(c);
    axes(&mut out, c, y_max);
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let n = c.categories.len().max(1);
    let group = (x1 - x0) / n as f64;
    let k = c.series.len().max(1);
    let bar = (group * 0.8 / k as f64).max(1.0);
    for (i, s) in c.series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#000");
        for (j, v) in s.values.iter().enumerate() {
            let Some(v) = v else { continue };
            let h = (y0 - y1) * (v / y_max).clamp(0.0, 1.0);
            let x = x0 + group * j as f64 + group * 0.1 + bar * i as f64;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{colour}"><title>{cat}, {name}: {val}</title></rect>"#,
                y = y0 - h,
                cat = esc(c.categories.get(j).map_or("", String::as_str)),
                name = esc(&s.name),
                val = esc(&de_num(*v, if v.fract() == 0.0 { 0 } else { 1 }))
            );
        }
    }
    legend(&mut out, c, "bar");
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_text_and_carry_their_alternative() {
        let categories = vec!["2025-01".to_owned(), "2025-02".to_owned()];
        let series = vec![Series { name: "Kreis <13003>".into(), values: vec![Some(80.0), None] }];
        let c = Chart {
            id: "t",
            title: "Teilnahme & Quote",
            desc: "Anteil der gemeldeten Untersuchungen",
            x_label: "Monat",
            y_label: "Prozent",
            categories: &categories,
            series: &series,
            y_max: Some(100.0),
        };
        for svg in [line_chart(&c), bar_chart(&c)] {
            assert!(svg.contains(r#"role="img" aria-labelledby="t-t t-d""#));
            assert!(svg.contains("<title id=\"t-t\">Teilnahme &amp; Quote</title>"));
            assert!(svg.contains("Kreis &lt;13003&gt;"));
            assert!(!svg.contains("style="), "presentation attributes only (CSP)");
        }
        assert_eq!(nice_max(73.0), 100.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(de_num(12.25, 1), "12,2");
    }
}
