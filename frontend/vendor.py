"""Copy the front-end libraries Peelian serves from node_modules into the package
(src/peelian/serve/static/vendor/), run by `make static` after `npm ci`.

GOV.UK Frontend's stylesheet is rewritten to use the system's sans-serif fonts:
its typeface (GDS Transport) and the crown are reserved for GOV.UK services, so
the @font-face rules are removed and no font or crown file is copied.
"""

import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
MODULES = HERE / "node_modules"
OUT = HERE.parent / "src" / "peelian" / "serve" / "static" / "vendor"
SYSTEM_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif'

FILES = {
    "leaflet/dist/leaflet.js": "leaflet.js",
    "leaflet/dist/leaflet.css": "leaflet.css",
    "cytoscape/dist/cytoscape.min.js": "cytoscape.min.js",
    "govuk-frontend/dist/govuk/govuk-frontend.min.js": "govuk-frontend.min.js",
}


def main() -> int:
    if not MODULES.is_dir():
        sys.exit(f"{MODULES} is missing: run `npm ci` in {HERE} first")
    tmp = OUT.with_name("vendor.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for source, target in FILES.items():
        shutil.copyfile(MODULES / source, tmp / target)
    shutil.copytree(MODULES / "leaflet/dist/images", tmp / "images")
    css = (MODULES / "govuk-frontend/dist/govuk/govuk-frontend.min.css").read_text("utf-8")
    css = re.sub(r"@font-face\{[^}]*\}", "", css)
    css = re.sub(r'"?GDS Transport"?,\s*arial,\s*sans-serif', SYSTEM_FONTS, css)
    css = re.sub(r"url\(/assets/images/govuk-crest\.svg\)", "none", css)
    if "GDS Transport" in css or "/assets/" in css:
        sys.exit("govuk-frontend.min.css still names GDS Transport: update frontend/vendor.py")
    (tmp / "govuk-frontend.min.css").write_text(css, "utf-8")
    for name in ("package.json",):
        shutil.copyfile(HERE / name, tmp / name)
    shutil.rmtree(OUT, ignore_errors=True)
    tmp.rename(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
