"""``manage.py audit_checkpoint``: sign the audit chain's head into the checkpoint file now.

The beat task ``clearance.audit_checkpoint`` does the same every AUDIT_CHECKPOINT_SECONDS. The
events since the previous checkpoint are verified first; a chain that does not verify is not signed
(exit 1). ``--public-key`` prints the public half to give auditors; ``--generate-key`` prints a fresh
key pair for AUDIT_CHECKPOINT_KEY.
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearance.checkpoints import CheckpointRefused, write_checkpoint
from clearance.keyring import key_fingerprint, new_checkpoint_key, public_key_raw


class Command(BaseCommand):
    help = "Append a signed checkpoint of the audit chain's head to AUDIT_CHECKPOINT_FILE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="write even if the head has not moved")
        parser.add_argument("--public-key", action="store_true",
                            help="print the signing key's public half (base64) and its id, and stop")
        parser.add_argument("--generate-key", action="store_true",
                            help="print a new key pair for AUDIT_CHECKPOINT_KEY, and stop")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            private, public = new_checkpoint_key()
            self.stdout.write(f"AUDIT_CHECKPOINT_KEY={private}\n# public key (for AUDIT_CHECKPOINT_PUBLIC_KEYS "
                              f"after a rotation, and for auditors): {public}")
            return
        key = settings.AUDIT_CHECKPOINT_KEY.public_key()
        if options["public_key"]:
            self.stdout.write(f"{base64.b64encode(public_key_raw(key)).decode()}  (key id {key_fingerprint(key)})")
            return
        try:
            result = write_checkpoint(force=options["force"])
        except CheckpointRefused as exc:
            raise CommandError(f"checkpoint REFUSED: {exc}") from exc
        if result.written:
            self.stdout.write(self.style.SUCCESS(
                f"checkpoint written: seq {result.seq} hash {result.hash} at {result.time} -> {result.path}"))
        else:
            self.stdout.write(f"head unchanged since the checkpoint at seq {result.seq} signed {result.time}: "
                              "nothing written (--force writes anyway)")
