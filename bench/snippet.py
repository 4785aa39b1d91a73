"""Benchmark: the tracker's bytes on the wire, as the application serves it, beside its peers.

Sizes are the bodies ``GET /hmbl.min.js`` answers (``tracking.snippet.encode``) for a browser that
accepts brotli, and for one that accepts gzip only: the core script, and the script carrying one
running split test's config; and ``GET /hmbl.auto.js``, the automatic events (outbound links,
downloads, forms, CSS-class tagging) the core fetches only when its tag has a data-track-* attribute.

.venv/bin/python bench/snippet.py
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEERS = {"Plausible": 2.7, "Umami": 2.2, "Simple Analytics": 2.0, "Fathom": 1.6}
# Brotli, as browsers fetch it over https (the core also under 1.5 KiB for a gzip-only client).
TARGETS_KIB = {"core": 1.3, "with_one_test": 1.6, "auto_events": 0.9}
GZIP_TARGETS_KIB = {"core": 1.5}
BROWSER = "gzip, deflate, br, zstd"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from tracking import snippet

    one_test = {
        "t": [{"p": "/pricing", "c": "control", "a": "b", "u": "/pricing-b", "v": ["/pricing-b"], "n": 1}],
        "d": "shop.example.com",
    }
    scripts = {
        "core": snippet.template(False),
        "with_one_test": snippet.with_config(one_test),
        # A site with Stripe connected also gets Payment Link tagging (no target of its own).
        "core_and_payment_links": snippet.template(False, True),
        "with_one_test_and_payment_links": snippet.with_config(one_test, True),
        # hmbl.auto.js: a second request, made only by pages that ask for automatic events.
        "auto_events": snippet.auto_script(),
    }
    sizes = {
        name: {
            "br": len(snippet.encode(script, BROWSER).body),
            "gzip": len(snippet.encode(script, "gzip").body),
            "plain": len(script.encode()),
        }
        for name, script in scripts.items()
    }
    print(f"{'script':32s} {'brotli':>9s} {'target':>8s} {'gzip':>9s} {'target':>8s} {'plain':>9s}")
    for name, size in sizes.items():
        target, gzip_target = TARGETS_KIB.get(name), GZIP_TARGETS_KIB.get(name)
        verdicts = []
        if target:
            verdicts.append("OK" if size["br"] <= target * 1024 else "MISSED")
        if gzip_target:
            verdicts.append("OK" if size["gzip"] < gzip_target * 1024 else "MISSED")
        print(
            f"{name:32s} {size['br'] / 1024:8.2f}K {'<= ' + str(target) + 'K' if target else '—':>8s} "
            f"{size['gzip'] / 1024:8.2f}K {'< ' + str(gzip_target) + 'K' if gzip_target else '—':>8s} "
            f"{size['plain'] / 1024:8.2f}K {' '.join(verdicts)}"
        )
    for name, kb in PEERS.items():
        print(f"{name:32s} {kb:8.2f}K (gzipped, their figures)")
    results_path = ROOT / "bench" / "results.json"
    merged = json.loads(results_path.read_text()) if results_path.exists() else {}
    merged["snippet"] = {
        "bytes_on_the_wire": sizes,
        "targets_kib_brotli": TARGETS_KIB,
        "targets_kib_gzip": GZIP_TARGETS_KIB,
        "peers_kb": PEERS,
    }
    results_path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
