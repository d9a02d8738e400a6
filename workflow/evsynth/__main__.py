"""``python -m evsynth <command>``: the reviewer's commands.

- ``new-study <id>``: scaffold ``<studies_dir>/<id>/`` (study.yaml template, empty tables) and list what to fill.
- ``check [path]``: validate study folders and print every problem (as ``python -m evsynth.ingest.records check``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evsynth.common.inputs import yaml_data
from evsynth.ingest import records


def _config_paths(config_file: str) -> dict:
    """studies_dir, vocabulary_dir and sources_dir from the config (the schema's defaults where absent)."""
    config = yaml_data(Path(config_file).read_text(encoding="utf-8")) if Path(config_file).is_file() else {}
    config = config or {}
    return {
        "studies": config.get("studies_dir", "resources/studies"),
        "vocabulary": config.get("vocabulary_dir", "resources/vocabulary"),
        "sources": config.get("sources_dir", "resources/sources"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evsynth", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml",
                        help="the config whose studies_dir, vocabulary_dir and sources_dir are used")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new-study", help="scaffold a study folder and list what to fill")
    new.add_argument("study_id", help="first author's surname and year, lower case (smith2024)")
    sub.add_parser("check", help="validate study folders and print every problem").add_argument("path", nargs="?")
    args = parser.parse_args(argv)
    paths = _config_paths(args.configfile)
    if args.command == "check":
        return records.main(["check", args.path or paths["studies"], "--sources", paths["sources"],
                             "--vocabulary", paths["vocabulary"]])
    from evsynth.ingest.scaffold import new_study

    sources = paths["sources"] if Path(paths["sources"]).is_dir() else None
    try:
        folder, todo = new_study(args.study_id, paths["studies"], paths["vocabulary"], sources)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {folder}/: study.yaml (template) and {len(records.TABLES)} empty tables with their headers")
    print(f"to fill ({len(todo)}), from the first validation run:")
    for line in todo:
        print(f"  - {line}")
    print(f"then check again: python -m evsynth check {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
