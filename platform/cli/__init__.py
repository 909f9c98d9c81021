"""The `callboard` command line (CONTRACT §2).

Every command turns the errors a user can cause (a bad bundle, a bad value, a missing
folder, an unreachable or unmigrated database) into a one-line message and a non-zero
exit, never a traceback. The web package is imported inside the commands that need it,
so `callboard check` and `callboard db upgrade` never load Flask.

One module per area registers its commands here; common.py holds the shared helpers.
"""
from __future__ import annotations

import click

from callboard.cli import imports, search, serve, telephony, tenants
from callboard.cli.common import CallboardGroup


@click.group(cls=CallboardGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Callboard: a low-code CRM and contact centre driven by YAML bundles."""


for _command in (tenants.check, tenants.db, tenants.tenant, tenants.user, serve.serve,
                 serve.worker, telephony.ivr, telephony.telephony, search.search,
                 imports.import_, imports.export, imports.template, imports.bulk_delete,
                 imports.jobs_group):
    main.add_command(_command)
