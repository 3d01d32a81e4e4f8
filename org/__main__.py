"""Pulumi entry point of the organisation guardrails (org/Pulumi.yaml). Bad config stops with one clear line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.organization.program import main  # noqa: E402
from sizing.errors import InputError  # noqa: E402

try:
    main()
except InputError as exc:
    raise SystemExit(f"error: {exc}") from None
