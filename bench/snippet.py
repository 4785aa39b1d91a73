"""Benchmark: the tracker's bytes on the wire, as the application serves it, beside its peers.

Sizes are the bodies ``GET /hmbl.min.js`` answers (``tracking.snippet.encode``) for a browser that
accepts brotli, and for one that accepts gzip only: the core script, and the script carrying one
running split test's config.

.venv/bin/python bench/snippet.py
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEERS = {"Plausible": 2.7, "Umami": 2.2, "Simple Analytics": 2.0, "Fathom": 1.6}
TARGETS_KIB = {"core": 1.3, "with_one_test": 1.6}  # brotli, as browsers fetch it over https
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
    }
    sizes = {
        name: {
            "br": len(snippet.encode(script, BROWSER).body),
            "gzip": len(snippet.encode(script, "gzip").body),
            "plain": len(script.encode()),
        }
        for name, script in scripts.items()
    }
    print(f"{'hmbl.min.js':32s} {'brotli':>9s} {'gzip':>9s} {'plain':>9s} {'target (br)':>12s}")
    for name, size in sizes.items():
        target = TARGETS_KIB.get(name)
        verdict = ("OK" if size["br"] <= target * 1024 else "MISSED") if target else ""
        print(
            f"{name:32s} {size['br'] / 1024:8.2f}K {size['gzip'] / 1024:8.2f}K "
            f"{size['plain'] / 1024:8.2f}K {'<= ' + str(target) + 'K' if target else '—':>12s} {verdict}"
        )
    for name, kb in PEERS.items():
        print(f"{name:32s} {kb:8.2f}K (gzipped, their figures)")
    results_path = ROOT / "bench" / "results.json"
    merged = json.loads(results_path.read_text()) if results_path.exists() else {}
    merged["snippet"] = {"bytes_on_the_wire": sizes, "targets_kib_brotli": TARGETS_KIB, "peers_kb": PEERS}
    results_path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
