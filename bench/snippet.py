"""Benchmark: the tracker's size as served, gzipped, beside its peers.

.venv/bin/python bench/snippet.py
"""

import gzip
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEERS = {"Plausible": 2.7, "Umami": 2.2, "Simple Analytics": 2.0, "Fathom": 1.6}
TARGETS = {"core": 1.5, "with_one_test": 2.5}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")
    import django

    django.setup()
    from tracking.snippet import CONFIG_MARKER, template

    one_test = {
        "t": [{"p": "/pricing", "c": "control", "a": "b", "u": "/pricing-b", "v": ["/pricing-b"], "n": 1}]
    }
    sizes = {
        "core": len(gzip.compress(template(False).encode(), 9)),
        "with_one_test": len(
            gzip.compress(
                template(True).replace(CONFIG_MARKER, json.dumps(one_test, separators=(",", ":"))).encode(), 9
            )
        ),
    }
    print(f"{'script':28s} {'gzipped':>10s} {'target':>10s}")
    for name, size in sizes.items():
        print(f"{'hmbl.min.js ' + name:28s} {size / 1024:9.2f}K {'< ' + str(TARGETS[name]) + 'K':>10s}")
    for name, kb in PEERS.items():
        print(f"{name:28s} {kb:9.2f}K")
    results_path = ROOT / "bench" / "results.json"
    merged = json.loads(results_path.read_text()) if results_path.exists() else {}
    merged["snippet"] = {
        "core_gzip_bytes": sizes["core"],
        "with_one_test_gzip_bytes": sizes["with_one_test"],
        "targets_kib": TARGETS,
        "peers_kb": PEERS,
    }
    results_path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
