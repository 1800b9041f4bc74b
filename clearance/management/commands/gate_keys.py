"""The keys of gate attestations: ``manage.py gate_keys`` prints the published key set (what
/.well-known/clearance/gate-keys.json serves: public halves only); ``--generate`` prints a fresh
signing key for GATE_SIGNING_KEY with its public half, for a first setup or a rotation."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clearance.dsse import gate_key_set
from clearance.keyring import new_checkpoint_key


class Command(BaseCommand):
    help = "Print the published gate attestation keys, or generate a new signing key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generate", action="store_true",
                            help="print a new Ed25519 signing key (GATE_SIGNING_KEY=...) and its public half")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            private, public = new_checkpoint_key()  # the same kind of key as a checkpoint's
            self.stdout.write(
                f"GATE_SIGNING_KEY={private}\n"
                f"# public key: after a rotation, add it to GATE_PUBLIC_KEYS of the next key so that the "
                f"attestations it signed keep verifying: {public}"
            )
            return
        self.stdout.write(json.dumps(gate_key_set(), indent=2, sort_keys=True))
