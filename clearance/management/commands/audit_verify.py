"""``manage.py audit_verify``: walk the audit chain and compare it with the signed checkpoints.

Exits 1 naming the first event that does not hold (seq and why: gap, broken link, hash mismatch,
unknown key id, an unkeyed hash where keyed ones are required, a head that says more than the table
holds) or the first checkpoint the table contradicts (rolled back, or an event hash that differs),
or a checkpoint line that was edited or forged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearance.audit import verify_chain
from clearance.checkpoints import verify_checkpoints


class Command(BaseCommand):
    help = "Verify the audit trail: the keyed hash chain, its head, and the signed checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint-file", type=Path, default=None,
                            help="the checkpoint file to compare with (default: AUDIT_CHECKPOINT_FILE), "
                                 "e.g. a copy kept on another host")
        parser.add_argument("--require-checkpoint", action="store_true",
                            help="fail when there is no checkpoint file or it holds no checkpoint")

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN at event #{report.first_broken_seq} ({report.reason}): {report.problem} "
                f"({report.checked} events verified before it)"
            )
        anchors = verify_checkpoints(options["checkpoint_file"])
        if not anchors.ok:
            where = f"event #{anchors.bad_seq}" if anchors.bad_seq is not None else f"line {anchors.bad_line}"
            raise CommandError(
                f"audit chain CONTRADICTS its checkpoints at {where} ({anchors.reason}): {anchors.problem} "
                f"[{anchors.path}]"
            )
        keyed = f"{report.keyed} keyed" + (f" ({', '.join(report.key_ids)})" if report.key_ids else "")
        legacy = f", {report.legacy} unkeyed from before keying (#1-#{report.legacy})" if report.legacy else ""
        self.stdout.write(self.style.SUCCESS(
            f"audit chain intact: {report.checked} events verified, {keyed}{legacy}"
        ))
        if anchors.latest is not None:
            self.stdout.write(self.style.SUCCESS(
                f"checkpoints: {anchors.checked} verified in {anchors.path}, the latest at seq "
                f"{anchors.latest.seq} signed {anchors.latest.time}"
            ))
            return
        message = (f"no checkpoint in {anchors.path}: the head is not anchored outside the database, so a "
                   "cut tail would go unseen (run `manage.py audit_checkpoint`; beat runs it periodically)")
        if options["require_checkpoint"]:
            raise CommandError(message)
        self.stderr.write(self.style.WARNING(message))
