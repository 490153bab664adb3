//! `semsearch map`: the corpus as a picture. Document vectors projected to
//! their first two principal components, coloured by top-level folder or
//! k-means cluster, the most central documents of each colour labelled.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use semsearch_indexer::Index;
use semsearch_searcher::layout::{layout, Grouping, Layout, Placed};
use semsearch_searcher::map;
use semsearch_searcher::{SearchConfig, Searcher};

use crate::cli::{ColorBy, MapArgs, MapFormat};
use crate::output::Outcome;

/// Tableau 10: distinct for the common forms of colour blindness.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];
// One colour per group the engine makes.
const _: () = assert!(PALETTE.len() == semsearch_searcher::layout::MAX_GROUPS);
const FONT: &str = "sans-serif";

fn build(index: &Index, args: &MapArgs, components: usize) -> anyhow::Result<Layout> {
    let grouping = match args.color_by {
        ColorBy::Auto => Grouping::Auto,
        ColorBy::Folder => Grouping::Folder,
        ColorBy::Cluster => Grouping::Cluster,
    };
    Ok(layout(index, grouping, args.clusters, components)?)
}

/// The CSV: a row per document (with its rank among the query's hits,
/// when a query is placed), then the query's own row.
fn write_csv(m: &Layout, placed: Option<&Placed>, out: &Path) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut header = vec!["id".to_string(), "group".into()];
    header.extend((1..=m.explained.len()).map(|k| format!("pc{k}")));
    header.push("title".into());
    if placed.is_some() {
        header.push("rank".into());
    }
    w.write_record(&header)?;
    for i in 0..m.ids.len() {
        let mut row = vec![m.ids[i].clone(), m.groups[m.group[i]].clone()];
        row.extend(m.coords[i].iter().map(|x| format!("{x:.6}")));
        row.push(m.titles[i].clone());
        if let Some(p) = placed {
            let rank = p.hits.iter().find(|h| h.id == m.ids[i]);
            row.push(rank.map_or(String::new(), |h| h.rank.to_string()));
        }
        w.write_record(&row)?;
    }
    if let Some(p) = placed {
        let mut row = vec!["(query)".to_string(), "query".into()];
        row.extend(p.coords.iter().map(|x| format!("{x:.6}")));
        row.extend([p.text.clone(), "0".into()]);
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

/// The layout, and the query placed on it when one is given.
fn layout_with_query(
    dir: &Path,
    args: &MapArgs,
    components: usize,
) -> anyhow::Result<(Layout, Option<Placed>)> {
    let cannot = || format!("cannot open index {}", dir.display());
    let Some(query) = &args.query else {
        let index = Index::open(dir).with_context(cannot)?;
        return Ok((build(&index, args, components)?, None));
    };
    let searcher = Searcher::open(dir).with_context(cannot)?;
    let m = build(searcher.index(), args, components)?;
    let cfg = SearchConfig {
        k: args.k,
        ..SearchConfig::default()
    };
    cfg.validate()?;
    let hits = searcher.search(query, &cfg)?;
    let vector = searcher.embedder()?.embed_queries(&[query.as_str()])?;
    let ranked: Vec<(usize, String)> = hits.into_iter().map(|h| (h.rank, h.id)).collect();
    let placed = m.place(query, &vector[0], &ranked);
    Ok((m, Some(placed)))
}

/// Marks shrink and fade as documents multiply, so 10 points stay visible
/// and 20,000 do not become one blot.
fn mark_style(n: usize) -> (u32, f64) {
    let n = n.max(1) as f64;
    let radius = (10.0 / n.powf(0.2)).clamp(1.5, 5.0).round() as u32;
    let alpha = (4.0 / n.powf(0.25)).clamp(0.2, 0.9);
    (radius, alpha)
}

fn label(title: &str, id: &str) -> String {
    let t = if title.trim().is_empty() {
        id
    } else {
        title.trim()
    };
    if t.chars().count() > 40 {
        format!("{}…", t.chars().take(39).collect::<String>())
    } else {
        t.to_string()
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    m: &Layout,
    query: Option<&Placed>,
    labels: usize,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the map: {e}");
    root.fill(&WHITE).map_err(e)?;
    let (mut xs, mut ys): (Vec<f32>, Vec<f32>) = m.coords.iter().map(|c| (c[0], c[1])).unzip();
    // The query is inside the frame too (appended after the documents).
    if let Some(p) = query {
        xs.push(p.coords[0]);
        ys.push(p.coords.get(1).copied().unwrap_or(0.0));
    }
    let range = |v: &[f32]| {
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let pad = ((hi - lo) * 0.05).max(1e-3);
        (lo - pad)..(hi + pad)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("semsearch map: {} documents", m.ids.len()),
            (FONT, 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(range(&xs), range(&ys))
        .map_err(e)?;
    let pct = |k: usize| m.explained.get(k).copied().unwrap_or(0.0) * 100.0;
    chart
        .configure_mesh()
        .x_desc(format!("PC1 ({:.1}% of variance)", pct(0)))
        .y_desc(format!("PC2 ({:.1}% of variance)", pct(1)))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(e)?;
    let (radius, alpha) = mark_style(m.ids.len());
    let members = |g: usize| (0..m.ids.len()).filter(move |&i| m.group[i] == g);
    for (g, name) in m.groups.iter().enumerate() {
        let color = PALETTE[g % PALETTE.len()];
        let count = members(g).count();
        chart
            .draw_series(
                members(g).map(|i| Circle::new((xs[i], ys[i]), radius, color.mix(alpha).filled())),
            )
            .map_err(e)?
            .label(format!("{name} ({count})"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    // Labels in the group's colour, anchored away from the nearer edge,
    // skipped where they would cover one already placed.
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    let span = chart.plotting_area().get_pixel_range().0;
    let mid = (span.start + span.end) / 2;
    for g in 0..m.groups.len() {
        let group: Vec<usize> = members(g).collect();
        let color = PALETTE[g % PALETTE.len()];
        let dark = RGBColor(color.0 / 2, color.1 / 2, color.2 / 2);
        for i in map::central(&m.vectors, &group, labels) {
            let text = label(&m.titles[i], &m.ids[i]);
            let (px, py) = chart.backend_coord(&(xs[i], ys[i]));
            let width = 7 * text.chars().count() as i32;
            let right_side = px > mid;
            let (x0, x1) = if right_side {
                (px - width - 4, px - 4)
            } else {
                (px + 4, px + width + 4)
            };
            let bbox = (x0, py - 8, x1, py + 8);
            if placed
                .iter()
                .any(|b| b.0 < bbox.2 && bbox.0 < b.2 && b.1 < bbox.3 && bbox.1 < b.3)
            {
                continue;
            }
            placed.push(bbox);
            let h = if right_side { HPos::Right } else { HPos::Left };
            let style = TextStyle::from((FONT, 12).into_font())
                .color(&dark)
                .pos(Pos::new(h, VPos::Center));
            let at = if right_side { px - 4 } else { px + 4 };
            root.draw(&Text::new(text, (at, py), style)).map_err(e)?;
        }
    }
    if let Some(p) = query {
        draw_query(&mut chart, p, radius).map_err(e)?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// The query as a red cross, each hit ringed with its rank beside it.
fn draw_query<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>,
    >,
    p: &Placed,
    radius: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let at = |c: &[f32]| (c[0], c.get(1).copied().unwrap_or(0.0));
    let ring = (radius + 4) as i32;
    let rank_style = TextStyle::from((FONT, 13).into_font()).color(&BLACK);
    for h in &p.hits {
        let (x, y) = at(&h.coords);
        chart.draw_series(std::iter::once(Circle::new(
            (x, y),
            ring,
            BLACK.stroke_width(2),
        )))?;
        // Beside the ring, not over it.
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, y))
                + Text::new(
                    h.rank.to_string(),
                    (ring + 1, -ring),
                    rank_style.clone().pos(Pos::new(HPos::Left, VPos::Center)),
                ),
        ))?;
    }
    let red = RGBColor(214, 39, 40);
    let (qx, qy) = at(&p.coords);
    chart
        .draw_series(std::iter::once(Cross::new(
            (qx, qy),
            9,
            red.stroke_width(4),
        )))?
        .label(format!("the query, its {} top hits ringed", p.hits.len()))
        .legend(move |(x, y)| Cross::new((x + 5, y), 5, red.stroke_width(3)));
    chart.draw_series(std::iter::once(
        EmptyElement::at((qx, qy))
            + Text::new(
                "query",
                (12, 6),
                TextStyle::from((FONT, 15).into_font())
                    .color(&red)
                    .pos(Pos::new(HPos::Left, VPos::Top)),
            ),
    ))?;
    Ok(())
}

fn size(s: &str) -> anyhow::Result<(u32, u32)> {
    s.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|&(w, h): &(u32, u32)| (200..=10_000).contains(&w) && (200..=10_000).contains(&h))
        .with_context(|| format!("--size {s:?}: expected WIDTHxHEIGHT, 200 to 10000 pixels each"))
}

pub fn run(args: MapArgs) -> anyhow::Result<Outcome> {
    let format = match args.format {
        Some(f) => f,
        None => match args.out.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("svg") => MapFormat::Svg,
            Some(e) if e.eq_ignore_ascii_case("png") => MapFormat::Png,
            Some(e) if e.eq_ignore_ascii_case("csv") => MapFormat::Csv,
            _ => bail!(
                "cannot tell the format of {}: name it .svg, .png or .csv, or pass --format",
                args.out.display()
            ),
        },
    };
    anyhow::ensure!(
        matches!(args.components, 2 | 3),
        "--components must be 2 or 3"
    );
    let (w, h) = size(&args.size)?;
    let dir = super::find_index(args.index.index.as_deref())?;
    let components = if format == MapFormat::Csv {
        args.components
    } else {
        2
    };
    let (m, placed) = layout_with_query(&dir, &args, components)?;
    match format {
        MapFormat::Csv => write_csv(&m, placed.as_ref(), &args.out)?,
        MapFormat::Svg => {
            register_font()?;
            draw(
                SVGBackend::new(&args.out, (w, h)).into_drawing_area(),
                &m,
                placed.as_ref(),
                args.labels,
            )?;
        }
        MapFormat::Png => {
            register_font()?;
            let mut rgb = vec![0u8; (w * h * 3) as usize];
            draw(
                BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
                &m,
                placed.as_ref(),
                args.labels,
            )?;
            write_png(&args.out, w, h, &rgb)?;
        }
    }
    eprintln!(
        "semsearch: mapped {} documents into {} groups, PC1 {:.1}% and PC2 {:.1}% of variance: {}",
        m.ids.len(),
        m.groups.len(),
        m.explained[0] * 100.0,
        m.explained.get(1).copied().unwrap_or(0.0) * 100.0,
        args.out.display()
    );
    Ok(Outcome::Success)
}

/// Text is drawn with a bundled font, so maps look the same everywhere and
/// need no system font lookup.
fn register_font() -> anyhow::Result<()> {
    static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
    plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
        .map_err(|_| anyhow!("the bundled font does not load"))
}

fn write_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}
