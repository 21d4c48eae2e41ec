"""Before/after pages: one self-contained HTML file for judging SR by eye.

Per image, bicubic | model | HR (when there is one) side by side in
synchronised, pixel-exact zoomed views (drag to pan, wheel to zoom, click
the overview to jump), opening on the region where the model gains most
over bicubic; above them the PSNR/SSIM table. Images are embedded as PNG
data URIs, so the file needs no network and no other files.
"""
import base64
import html
import io
import json

import numpy as np
from PIL import Image

from tfsr.color import luma

VIEW = 256  # CSS pixels of each zoomed view
ZOOM = 4  # initial magnification: a 64×64 HR region fills a view


def png_data_uri(image):
    """A ``data:image/png;base64,…`` URI of a uint8 (H, W, 3) or (H, W, 1) array."""
    image = np.asarray(image, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _y(image):
    image = np.asarray(image, np.float64)
    return image[..., 0] if image.shape[-1] == 1 else luma(image)


def _box_sums(values, size):
    """Sums of ``values`` over every size×size window ('valid'), by an integral image."""
    integral = np.pad(values, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]


def gain_region(bicubic, sr, hr=None, size=VIEW // ZOOM):
    """(y, x) centre of the size×size window where the model gains most over bicubic.

    With HR: the largest drop of squared luma error from bicubic to SR.
    Without: where SR differs most from bicubic.
    """
    b, s = _y(bicubic), _y(sr)
    if hr is not None:
        h = _y(hr)
        score = (b - h) ** 2 - (s - h) ** 2
    else:
        score = (s - b) ** 2
    size = min(size, *score.shape)
    sums = _box_sums(score, size)
    y, x = np.unravel_index(np.argmax(sums), sums.shape)
    return int(y) + size // 2, int(x) + size // 2


def _figure(label, image, caption):
    # The <img> is part of the document, so the page's load event waits for it; the canvas shows it.
    return (f'<figure><img hidden alt="{html.escape(label)}" src="{png_data_uri(image)}">'
            f'<canvas class="view" width="{VIEW}" height="{VIEW}"></canvas>'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>')


def comparison_item(name, panels, scores=None, hr=None):
    """The HTML of one image: ``panels`` is {label: uint8 image} (bicubic first, then the model's).

    ``scores`` is {label: (psnr, ssim)} or {label: caption text} (e.g. "NIQE 5.43"); ``hr`` adds the
    ground-truth panel and lets the opening region be chosen by the real gain.
    """
    scores = scores or {}
    labels = list(panels)
    bicubic, sr = panels[labels[0]], panels[labels[-1]]
    cy, cx = gain_region(bicubic, sr, hr)
    height, width = np.asarray(sr).shape[:2]

    def caption(label):
        score = scores.get(label)
        if score is None:
            return label
        return f"{label}  " + (score if isinstance(score, str) else f"{score[0]:.2f} dB / {score[1]:.4f}")
    figures = [_figure(label, image, caption(label)) for label, image in panels.items()]
    if hr is not None:
        figures.append(_figure("HR", hr, "HR (ground truth)"))
    return (f'<section class="item" data-cx="{cx}" data-cy="{cy}" data-zoom="{ZOOM}" data-w="{width}" '
            f'data-h="{height}"><h2>{html.escape(name)}</h2><div class="row">'
            f'<canvas class="overview" width="{VIEW}" height="{VIEW}"></canvas>{"".join(figures)}</div></section>')


def scores_table(rows, labels):
    """HTML table: rows of (name, {label: (psnr, ssim)}), then the mean."""
    head = "".join(f"<th>{html.escape(label)} PSNR</th><th>SSIM</th>" for label in labels)
    gain = len(labels) > 1
    body = []
    for name, scores in rows + [("mean", {label: tuple(np.mean([r[1][label] for r in rows], axis=0))
                                          for label in labels})]:
        cells = "".join(f"<td>{scores[label][0]:.2f}</td><td>{scores[label][1]:.4f}</td>" for label in labels)
        if gain:
            cells += f"<td>{scores[labels[-1]][0] - scores[labels[0]][0]:+.2f}</td>"
        body.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    gain_head = f"<th>gain over {html.escape(labels[0])} (dB)</th>" if gain else ""
    return f"<table><tr><th>image</th>{head}{gain_head}</tr>{''.join(body)}</table>"


def niqe_table(rows, labels):
    """HTML table: rows of (name, {label: NIQE}), then the mean; lower is more natural."""
    head = "".join(f"<th>{html.escape(label)} NIQE</th>" for label in labels)
    from tfsr.no_reference import scored_mean
    means = {label: scored_mean(r[1][label] for r in rows) for label in labels}
    body = "".join(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{scores[label]:.3f}</td>" for label in labels)
                   + "</tr>" for name, scores in rows + [("mean", means)])
    return f"<table><tr><th>image</th>{head}</tr>{body}</table>"


def page(title, items, table="", note=""):
    """The whole self-contained HTML document."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='note'>{html.escape(note)}</p>{table}"
            f"<p class='help'>Drag a view to pan, scroll to zoom, click the overview to jump; all views of an "
            f"image move together. Each view opens on the region where the model gains most over bicubic.</p>"
            f"{''.join(items)}<script>const VIEW = {json.dumps(VIEW)};{_SCRIPT}</script></body></html>")


_CSS = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.row { display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-start; }
figure { margin: 0; }
canvas { border: 1px solid #999; image-rendering: pixelated; cursor: grab; background: #eee; }
figcaption { font-size: 12px; margin-top: 2px; }
.note, .help { color: #555; }
"""

_SCRIPT = """
window.addEventListener('load', () => document.querySelectorAll('.item').forEach(item => {
  const views = [...item.querySelectorAll('canvas.view')];
  const images = [...item.querySelectorAll('img')];
  const overview = item.querySelector('canvas.overview');
  const s = {cx: +item.dataset.cx, cy: +item.dataset.cy, zoom: +item.dataset.zoom,
             w: +item.dataset.w, h: +item.dataset.h};
  function draw() {
    const size = Math.min(VIEW / s.zoom, s.w, s.h);
    s.cx = Math.min(Math.max(s.cx, size / 2), s.w - size / 2);
    s.cy = Math.min(Math.max(s.cy, size / 2), s.h - size / 2);
    const x0 = Math.round(s.cx - size / 2), y0 = Math.round(s.cy - size / 2);
    const means = views.map((v, i) => {
      const ctx = v.getContext('2d');
      ctx.imageSmoothingEnabled = false;
      ctx.clearRect(0, 0, VIEW, VIEW);
      ctx.drawImage(images[i], x0, y0, size, size, 0, 0, VIEW, VIEW);
      const px = ctx.getImageData(0, 0, VIEW, VIEW).data;
      let sum = 0;
      for (let k = 0; k < px.length; k += 4) sum += px[k] + px[k + 1] + px[k + 2];
      return (sum / (px.length / 4 * 3)).toFixed(3);
    });
    const f = VIEW / Math.max(s.w, s.h), ctx = overview.getContext('2d');
    overview.height = Math.round(s.h * f); overview.width = Math.round(s.w * f);
    ctx.drawImage(images[images.length - 1], 0, 0, overview.width, overview.height);
    ctx.strokeStyle = '#e00'; ctx.lineWidth = 2; ctx.strokeRect(x0 * f, y0 * f, size * f, size * f);
    item.dataset.region = [x0, y0, size].join(',');  // what the views show, in HR pixels
    item.dataset.means = means.join(',');
  }
  draw();
  let drag = null;
  views.forEach(v => {
    v.addEventListener('mousedown', e => { drag = [e.clientX, e.clientY]; });
    v.addEventListener('wheel', e => { e.preventDefault();
      s.zoom = Math.min(32, Math.max(1, s.zoom * (e.deltaY < 0 ? 1.25 : 0.8))); draw(); });
  });
  window.addEventListener('mouseup', () => { drag = null; });
  window.addEventListener('mousemove', e => { if (!drag) return;
    s.cx -= (e.clientX - drag[0]) / s.zoom; s.cy -= (e.clientY - drag[1]) / s.zoom;
    drag = [e.clientX, e.clientY]; draw(); });
  overview.addEventListener('click', e => { const r = overview.getBoundingClientRect(), f = overview.width / s.w;
    s.cx = (e.clientX - r.left) / f; s.cy = (e.clientY - r.top) / f; draw(); });
}));
"""
