"""Refresh the vendored referrer database (Matomo's search engine, social network and AI assistant
lists, CC0) in tracking/data/referrers/matomo.json.

The lists are read as YAML and written as compact JSON (host patterns per source name, per category),
so the product never parses YAML at start-up. The project's own corrections stay in overrides.json,
which this command never touches.
"""

import datetime as dt
import json
import urllib.request
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from tracking.referrers import MATOMO_DATA_PATH

DEFAULT_BASE = "https://raw.githubusercontent.com/matomo-org/searchengine-and-social-list/master/"
FILES = {"search": "SearchEngines.yml", "social": "Socials.yml", "ai": "AIAssistants.yml"}


def _hosts_of(category: str, definition: object) -> list[str]:
    """Host patterns of one source: a list of hosts, or (search engines) a list of configurations."""
    if category != "search":
        return [str(host) for host in definition or []]
    hosts: list[str] = []
    for config in definition or []:
        hosts.extend(str(host) for host in config.get("urls") or [])
    return hosts


def convert(texts: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """``{category: YAML text}`` → ``{category: {source name: [host patterns]}}``, sorted."""
    data: dict[str, dict[str, list[str]]] = {}
    for category, text in texts.items():
        parsed = yaml.safe_load(text) or {}
        if not isinstance(parsed, dict):
            raise CommandError(f"{FILES[category]} is not a mapping of names to hosts")
        data[category] = {
            str(name): sorted({host.lower() for host in _hosts_of(category, definition)})
            for name, definition in sorted(parsed.items(), key=lambda item: str(item[0]))
        }
    return data


class Command(BaseCommand):
    help = "Download Matomo's referrer lists (CC0) and rewrite tracking/data/referrers/matomo.json."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=DEFAULT_BASE, help="Where the three YAML files live")
        parser.add_argument("--from-dir", help="Read the YAML files from this folder instead")
        parser.add_argument("--output", default=str(MATOMO_DATA_PATH), help="JSON file to write")

    def handle(self, *args, base_url, from_dir, output, **options):
        texts = {}
        for category, name in FILES.items():
            if from_dir:
                texts[category] = (Path(from_dir) / name).read_text(encoding="utf-8")
            else:
                with urllib.request.urlopen(base_url + name, timeout=30) as response:
                    texts[category] = response.read().decode("utf-8")
        data = convert(texts)
        document = {
            "source": from_dir or base_url,
            "licence": "CC0-1.0 (see LICENSE beside this file)",
            "updated_at": dt.date.today().isoformat(),
            **data,
        }
        Path(output).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        counts = ", ".join(f"{len(data[c])} {c}" for c in FILES)
        self.stdout.write(f"Wrote {output}: {counts}.")
