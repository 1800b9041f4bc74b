"""``manage.py framework_oscal export|import``: frameworks as OSCAL catalogs (JSON).

- ``export FRAMEWORK_ID [--output FILE]``: the framework as an OSCAL catalog, validated by trestle's
  OSCAL model (stdout by default).
- ``import FILE --id ID --licence TEXT --source-url URL [--note TEXT]``: add (or replace) an
  organisation framework in FRAMEWORK_IMPORT_DIR; refused whole, with the JSON path, when the
  catalog or the resulting library does not validate. Audited with no actor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from clearance.errors import DomainError
from compliance.loader import LibraryError, load_library
from compliance.oscal import MAX_OSCAL_BYTES, export_json
from compliance.services import framework_import


class Command(BaseCommand):
    help = "Export a framework as an OSCAL catalog (JSON), or import an OSCAL catalog as a framework."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write a framework as an OSCAL catalog")
        export.add_argument("framework")
        export.add_argument("--output", type=Path)
        imp = sub.add_parser("import", help="add an OSCAL catalog as an organisation framework")
        imp.add_argument("file", type=Path)
        imp.add_argument("--id", required=True, dest="framework_id")
        imp.add_argument("--licence", required=True)
        imp.add_argument("--source-url", required=True)
        imp.add_argument("--note", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            try:
                library = load_library()
            except LibraryError as exc:
                raise CommandError("the framework library does not load:\n" + "\n".join(exc.lines())) from exc
            framework = library.frameworks.get(options["framework"])
            if framework is None:
                raise CommandError(f"no framework {options['framework']!r}; known: {', '.join(library.frameworks)}")
            text = export_json(framework, timezone.now())
            if options["output"]:
                options["output"].write_text(text, encoding="utf-8")
                self.stdout.write(f"wrote {options['output']}: {len(framework.controls)} controls")
            else:
                self.stdout.write(text)
            return
        path: Path = options["file"]
        try:
            if path.stat().st_size > MAX_OSCAL_BYTES:
                raise CommandError(f"{path}: {path.stat().st_size:,} bytes; at most {MAX_OSCAL_BYTES:,}")
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        try:
            target = framework_import(actor=None, raw=raw, framework_id=options["framework_id"],
                                      licence=options["licence"], source_url=options["source_url"],
                                      source_note=options["note"])
        except DomainError as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        self.stdout.write(f"imported {options['framework_id']} into {target}")
