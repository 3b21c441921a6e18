"""The report's HTML page: its sections (headings, notes, tables, figures) in order, the page
template and the inline script that lets a test see whether every image loaded."""

import html
import os

from .atomic_files import atomic_open
from .plotting import save_figure


def esc(text):
    return html.escape(str(text), quote=True)


class Report:
    """Collects the page's sections (tables, figures, notes) in order, then renders the HTML."""

    def __init__(self, outdir, title):
        os.makedirs(outdir, exist_ok=True)  # only once the inputs have been read and checked
        self.outdir = outdir
        self.title = title
        self.parts = []

    def heading(self, text):
        self.parts.append(f"<h2>{esc(text)}</h2>")

    def note(self, text):
        self.parts.append(f'<p class="note">{esc(text)}</p>')

    def table(self, caption, header, rows, row_classes=None):
        """HTML table; cells are given as display strings. ROW_CLASSES marks rows (e.g. failed)."""
        # Caption as a heading above a scrolling box: wide tables (many sweep columns) then
        # scroll on their own instead of widening the page or squeezing the caption.
        out = [f'<h3>{esc(caption)}</h3><div class="scroll"><table><thead><tr>']
        out += [f"<th>{esc(h)}</th>" for h in header]
        out.append("</tr></thead><tbody>")
        for i, row in enumerate(rows):
            cls = row_classes[i] if row_classes else ""
            out.append(f'<tr class="{esc(cls)}">' if cls else "<tr>")
            out += [f"<td>{esc(c)}</td>" for c in row]
            out.append("</tr>")
        out.append("</tbody></table></div>")
        self.parts.append("".join(out))

    def figure(self, fig, name, caption):
        save_figure(fig, self.outdir, name)
        self.parts.append(
            f'<figure><a href="{name}.svg"><img src="{name}.png" alt="{esc(caption)}"></a>'
            f'<figcaption>{esc(caption)} (<a href="{name}.svg">SVG</a>)</figcaption></figure>')

    def write(self, subtitle):
        """Write index.html, after every figure it shows."""
        page = PAGE_TEMPLATE.format(title=esc(self.title), subtitle=esc(subtitle),
                                    body="\n".join(self.parts), script=IMAGE_CHECK_SCRIPT)
        with atomic_open(os.path.join(self.outdir, "index.html"), "w", encoding="utf-8") as f:
            f.write(page)


# Lets a headless browser test see whether every image decoded (tools/check_html_images.sh).
IMAGE_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = document.getElementsByTagName('img'), loaded = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) loaded++;
  }
  document.body.setAttribute('data-images-loaded', loaded + '/' + imgs.length);
});
</script>"""

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1200px; }}
h1 {{ font-size: 1.5em; margin-bottom: 0.2em; }}
h2 {{ font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }}
.subtitle {{ color: #555; margin-top: 0; }}
h3 {{ font-size: 1em; margin: 1em 0 0.3em; }}
.scroll {{ overflow-x: auto; margin-bottom: 1em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.failed td {{ background: #fde0e0; color: #900; }}
tr.infeasible td {{ background: #eeeeee; color: #555; }}
tr.pareto td {{ background: #e3f3e3; }}
figure {{ margin: 1em 0 2em; }}
figure img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.9em; }}
.note {{ color: #666; font-style: italic; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="subtitle">{subtitle}</p>
{body}
{script}
</body>
</html>
"""
