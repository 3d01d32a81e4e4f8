"""The ``aifactory`` command line: size, predict (and, as they land, plan, preflight, verify, report).

Exit codes: 0 success, 2 bad input (one line on stderr naming the file or flag, the field and what
is allowed), 1 a check that found a blocking problem. No traceback reaches a user for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sizing.errors import InputError
from sizing.words import plural


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as bad input (exit 2, one line)."""

    def error(self, message: str) -> Any:
        raise InputError("command line", self.prog, message)


def _build() -> argparse.ArgumentParser:
    from sizing import __version__

    root = _Parser(prog="aifactory", description="Size and provision sovereign AI factories on AWS.")
    root.add_argument("--version", action="version", version=f"aifactory {__version__}")
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sch = sub.add_parser("schema", help="print a JSON Schema of a document the tool writes")
    sch.add_argument("document", choices=("plan",), help="plan: what `size --json` prints and infra/ reads")

    s = sub.add_parser("size", help="size a forecast: accelerators, domains, HBM, power and cost per year")
    s.add_argument("forecast", help="forecast YAML file (see docs/FORECAST.md)")
    s.add_argument("--platform", action="append", dest="platforms", metavar="ID",
                   help="platform id (repeatable); default: the forecast's platforms")
    s.add_argument("--samples", type=int, help="Monte Carlo samples (default: the forecast's, or 10000)")
    s.add_argument("--seed", type=int, help="random seed (default: the forecast's, or 0)")
    s.add_argument("--json", action="store_true", help="print the plan as JSON on stdout")
    s.add_argument("--out", metavar="PLAN.json", help="also write the plan as JSON to this file")
    s.add_argument("--software", action="append", metavar="PLATFORM=STACK", default=[],
                   help="serving stack for a platform, e.g. trn3=neuron-aws (repeatable; over the forecast's)")

    p = sub.add_parser("predict", help="predict one configuration (the calibration interface)")
    p.add_argument("--platform", required=True, metavar="ID")
    p.add_argument("--model", required=True, metavar="NAME")
    p.add_argument("--precision", required=True, choices=("fp4", "fp8", "bf16"))
    p.add_argument("--accelerators", required=True, type=int, metavar="N")
    p.add_argument("--isl", type=float, metavar="T", help="mean input tokens")
    p.add_argument("--osl", type=float, metavar="T", help="mean output tokens")
    p.add_argument("--ttft-ms", type=float, metavar="MS")
    p.add_argument("--tpot-ms", type=float, metavar="MS")
    p.add_argument("--batch", type=int, metavar="B", help="fix the batch instead of maximising throughput")
    p.add_argument("--disaggregated", nargs="?", const="true", choices=("true", "false", "auto"), default="false",
                   help="two pools (prefill, decode); auto: the engine chooses")
    p.add_argument("--software", metavar="STACK", help="serving stack (trtllm, vllm, neuron-oss, neuron-aws); "
                   "default: the platform family's")
    p.add_argument("--no-quantize", action="store_true", help="serve a BF16 checkpoint in BF16 (no FP8 serving)")
    p.add_argument("--prefix-cache-hit", type=float, default=0.0, metavar="H",
                   help="share of prompt tokens served from the prefix cache (0-0.99)")
    p.add_argument("--speculative", metavar="METHOD:TOKENS:ACCEPTANCE",
                   help="speculative decoding, e.g. mtp:3:0.7 or eagle:4:0.6 (draft:K:A:PARAMS_B for a draft model)")
    p.add_argument("--models-file", metavar="FILE", help="YAML mapping of model name to spec, before presets")
    p.add_argument("--train", action="store_true", help="predict training throughput instead")
    p.add_argument("--seq-len", type=float, metavar="T", help="training sequence length (with --train)")
    p.add_argument("--json", action="store_true", help="print JSON (the default output is JSON too)")

    o = sub.add_parser("plan", help="offline preview: run the Pulumi program with mocks, list every resource")
    o.add_argument("forecast", help="forecast YAML file")
    o.add_argument("--stack-config", metavar="FILE", help="a Pulumi.<stack>.yaml (default: region from the forecast)")
    o.add_argument("--platform", metavar="ID", help="override the stack's platform")
    o.add_argument("--year", type=int, metavar="YEAR", help="override the build year (default: the last)")
    o.add_argument("--samples", type=int, metavar="N", help="Monte Carlo samples of the plan")
    o.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    o.add_argument("--out", metavar="MANIFEST.json", help="also write the manifest to this file")

    for command, text in (("preflight", "check the account before `pulumi up`: capacity, quotas, EFA, residency"),
                          ("verify", "check the account after `pulumi up`: drift from the plan and the rules")):
        v = sub.add_parser(command, help=text)
        v.add_argument("forecast", help="forecast YAML file")
        v.add_argument("--region", required=True, help="AWS region to check (credentials: default chain)")
        v.add_argument("--stack-config", metavar="FILE", help="a Pulumi.<stack>.yaml")
        v.add_argument("--platform", metavar="ID", help="override the stack's platform")
        v.add_argument("--year", type=int, metavar="YEAR", help="override the build year")
        v.add_argument("--samples", type=int, metavar="N", help="Monte Carlo samples of the plan")
        v.add_argument("--json", action="store_true", help="print the findings as JSON")
        v.add_argument("--time-budget", type=float, default=120.0, metavar="S",
                       help="seconds for all AWS calls of the run; checks left when it is spent say so (120)")

    g = sub.add_parser("verify-org", help="check the organisation's live SCPs and attachments with the org "
                       "program's rules (run with the management or delegated-admin account's credentials)")
    g.add_argument("--target", metavar="ID", help="the factory's OU or account id: judge only the SCPs binding it")
    g.add_argument("--on-site-cidr", action="append", default=[], metavar="CIDR",
                   help="an ai-factory/Outpost site's on-premises network (the org stack's localGatewayRouting)")
    g.add_argument("--region", default="us-east-1", help="region of the Organizations endpoint (us-east-1)")
    g.add_argument("--json", action="store_true", help="print the findings as JSON")
    g.add_argument("--time-budget", type=float, default=120.0, metavar="S", help="seconds for all AWS calls (120)")

    r = sub.add_parser("report", help="render the sizing report: one self-contained HTML page")
    r.add_argument("forecast", help="forecast YAML file")
    r.add_argument("--out", default="report.html", metavar="report.html", help="where to write the page")
    r.add_argument("--platform", action="append", dest="platforms", metavar="ID",
                   help="platform to compare (repeatable); default: the forecast's platforms")
    r.add_argument("--samples", type=int, help="Monte Carlo samples (default: the forecast's)")
    r.add_argument("--seed", type=int, help="random seed (default: the forecast's)")
    r.add_argument("--no-inventory", action="store_true", help="skip the offline plan's resource inventory")

    c = sub.add_parser("calibrate", help="fit the efficiency constants to measurements (writes efficiency.yaml)")
    c.add_argument("--dir", default="calibration", help="directory with inference.csv, training.csv, models.yaml")
    c.add_argument("--out", help="where to write (default: the package's sizing/data/efficiency.yaml)")
    c.add_argument("--check", action="store_true",
                   help="only check the shipped file equals a fresh fit (exit 1 if not)")
    return root


_PARTIAL: set[str] = set()  # temporary files being written: removed on any failure or interrupt


def _write(path: str | Path, text: str, what: str, flag: str = "--out") -> None:
    """Write an output file atomically: a temporary file in the same directory, fsync, then rename.

    A failure part way (full disk, file-size limit, Ctrl-C) leaves the previous file as it was and no
    temporary file; a reader polling the path sees the old file or the new one, never half of one. An
    unwritable path is bad input, not a traceback.
    """
    if not str(path).strip():
        raise InputError("command line", flag, f"needs a file path for the {what}, got an empty one")
    target = Path(path)
    if target.is_dir():
        raise InputError(str(path), flag, f"is a directory; give a file path for the {what}")
    temp = ""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        _PARTIAL.add(temp)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _mode(target))
        _check_interrupted()
        os.replace(temp, target)
        _PARTIAL.discard(temp)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise InputError(str(path), flag, f"cannot write the {what}: {exc.strerror or exc}; "
                         "the previous file, if any, is unchanged") from None
    finally:
        _remove_partial(temp)


def _mode(target: Path) -> int:
    """The existing file's permissions, else what a plain open() would give under the umask."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: some file systems cannot fsync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_partial(temp: str) -> None:
    if temp and temp in _PARTIAL:
        _PARTIAL.discard(temp)
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _schema(args: argparse.Namespace) -> int:
    from importlib import resources

    sys.stdout.write(resources.files("sizing").joinpath("data/plan.schema.json").read_text(encoding="utf-8"))
    return 0


def _size(args: argparse.Namespace) -> int:
    from aifactory.progress import Progress
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan, to_json
    from sizing.sanity import check_plan
    from sizing.table import render

    forecast = load_forecast(args.forecast)
    forecast = _with_software(forecast, _software_overrides(args.software), args.platforms or forecast.platforms)
    _bounded(forecast, len(args.platforms or forecast.platforms), args.samples)
    bar = Progress(quiet=args.json)
    bar.stage(f"sizing {args.samples or forecast.samples:,} Monte Carlo samples")
    plan = make_plan(forecast, platforms=args.platforms, samples=args.samples, seed=args.seed, progress=bar.update)
    bar.finish()
    check_plan(plan, forecast)
    text = to_json(plan)
    if args.out is not None:
        _write(args.out, text, "plan")
    sys.stdout.write(text if args.json else render(plan))
    _warn_cap(plan)
    return 0


def _bounded(forecast: Any, platforms: int, samples: int | None, flag: str = "--samples") -> None:
    """The memory bound for this run (sizing.sanity.check_bounds), naming the field that set the samples."""
    from sizing.sanity import check_bounds

    if samples is not None and samples < 1:
        raise InputError("command line", flag, f"must be at least 1, got {samples}")
    check_bounds(forecast, platforms, samples if samples is not None else forecast.samples,
                 flag if samples is not None else "monte_carlo.samples")


def _warn_cap(plan: dict[str, Any]) -> None:
    """Say on stderr when the site's power cap is exceeded: a finding, so the exit code stays 0."""
    from sizing.recommendation import cap_warning

    line = cap_warning(plan)
    if line:
        print(line, file=sys.stderr)


def _stack_summary(plan: dict[str, Any]) -> str:
    """The plan's serving stacks for `plan`'s summary: the side-by-side block of `size` (each Trainium
    platform under each stack, where the plan carries the alternatives; else the break-even naming its
    stack) and the choice across the Trainium stacks."""
    import textwrap

    from sizing.table import WIDTH, stacks_block

    lines = stacks_block(plan)
    note = (plan.get("recommendation") or {}).get("stack_note")
    lines += textwrap.wrap(f"recommendation: {note}", WIDTH, subsequent_indent="  ") if note else []
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def _predict(args: argparse.Namespace) -> int:
    from sizing import models
    from sizing.predict import predict_inference, predict_training

    extra = models.load_models_file(args.models_file) if args.models_file else {}
    spec = models.resolve(args.model, extra, args.models_file or "command line", "--model")
    if args.train:
        if args.seq_len is None:
            raise InputError("command line", "--seq-len", "required with --train")
        result = predict_training(args.platform, spec, args.precision, args.accelerators, args.seq_len,
                                  software=args.software)
    else:
        for flag, value in (("--isl", args.isl), ("--osl", args.osl)):
            if value is None:
                raise InputError("command line", flag, "required for inference (or use --train)")
        if not 0.0 <= args.prefix_cache_hit <= 0.99:
            raise InputError("command line", "--prefix-cache-hit",
                             f"must be between 0 and 0.99, got {args.prefix_cache_hit}")
        disagg = {"true": True, "false": False}.get(args.disaggregated, args.disaggregated)
        result = predict_inference(args.platform, spec, args.precision, args.accelerators, args.isl, args.osl,
                                   args.ttft_ms, args.tpot_ms, args.batch, disagg, software=args.software,
                                   quantize=not args.no_quantize, prefix_hit=args.prefix_cache_hit,
                                   speculative=_speculative(args.speculative))
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


def _software_overrides(items: list[str]) -> dict[str, str]:
    """``--software PLATFORM=STACK`` items as a mapping (checked against the catalog by the engine)."""
    out: dict[str, str] = {}
    for item in items:
        pid, sep, stack = item.partition("=")
        if not sep or not pid or not stack:
            raise InputError("command line", "--software",
                             f"expected PLATFORM=STACK (e.g. trn3=neuron-aws), got {item!r}")
        out[pid] = stack
    return out


def _with_software(forecast: Any, overrides: dict[str, str], platforms: Sequence[str]) -> Any:
    """The forecast with ``--software`` choices over its own ``software`` mapping (checked here, so an
    unknown platform or stack, or a platform not being sized, names the flag)."""
    from dataclasses import replace

    from sizing.catalog import load_catalog

    catalog = load_catalog()
    for pid, stack in overrides.items():
        platform = catalog.platform(pid, path="--software")
        if pid not in platforms:
            raise InputError("command line", "--software",
                             f"{pid} is not among the platforms sized ({', '.join(platforms)})")
        catalog.stack_for(platform, stack, path="--software")
    return replace(forecast, software={**forecast.software, **overrides}) if overrides else forecast


def _speculative(text: str | None) -> tuple[str, int, float, float] | None:
    """``--speculative METHOD:TOKENS:ACCEPTANCE[:DRAFT_PARAMS_B]``."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        method, tokens, acceptance = parts[0], int(parts[1]), float(parts[2])
        draft = float(parts[3]) if len(parts) > 3 else 0.0
    except (IndexError, ValueError):
        raise InputError("command line", "--speculative",
                         f"expected METHOD:TOKENS:ACCEPTANCE (e.g. mtp:3:0.7), got {text!r}") from None
    if method not in ("mtp", "eagle", "draft") or not 1 <= tokens <= 16 or not 0 <= acceptance <= 1:
        raise InputError("command line", "--speculative", "method mtp, eagle or draft; tokens 1-16; acceptance 0-1")
    if (method == "draft") != (draft > 0):
        raise InputError("command line", "--speculative", "a draft model needs its size: draft:K:A:PARAMS_B (only)")
    return method, tokens, acceptance, draft


def _calibrate(args: argparse.Namespace) -> int:
    from importlib import resources

    from aifactory.progress import Progress
    from sizing.fitting import EFFICIENCY_FILE, dump, efficiency_document, fit

    directory = Path(args.dir)
    if args.out is not None and not args.out.strip():
        raise InputError("command line", "--out", "needs a file path for the efficiency constants, got an empty one")
    for name in ("inference.csv", "training.csv", "models.yaml"):
        if not (directory / name).is_file():
            raise InputError(str(directory / name), "--dir", "missing: a calibration directory holds "
                             "inference.csv, training.csv and models.yaml")
    bar = Progress()
    bar.stage(f"fitting the efficiency constants to {directory}")
    with bar.ticking():
        result = fit(directory)
    bar.finish()
    text = dump(efficiency_document(result, directory))
    target = Path(args.out) if args.out is not None else Path(str(resources.files("sizing").joinpath(EFFICIENCY_FILE)))
    errors = [abs(r.error) for r in result.results]
    print(f"fitted {len(result.fitted_rows)} rows, held out {len(result.held_out_rows)}; "
          f"MAPE over all {len(errors)} rows {100 * sum(errors) / len(errors):.1f}%, "
          f"worst {100 * max(errors):.1f}%")
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(f"{target} differs from a fresh fit: run `aifactory calibrate` and commit it", file=sys.stderr)
            return 1
        print(f"{target} is what the fit produces")
        return 0
    _write(target, text, "efficiency constants")
    print(f"wrote {target}")
    return 0


def _stack_settings(args: argparse.Namespace, region: str | None = None) -> Any:
    """Stack settings from --stack-config (or defaults from the forecast), with command-line overrides."""
    from dataclasses import replace

    from infra.settings import PROJECT, load_stack_file, parse_settings
    from sizing.forecast import load_forecast

    forecast = load_forecast(args.forecast)
    if args.stack_config:
        settings = replace(load_stack_file(args.stack_config), forecast=args.forecast)
    else:
        settings = parse_settings({f"{PROJECT}:forecast": args.forecast}, "defaults",
                                  default_region=region or forecast.site.region)
    if region is not None:
        settings = replace(settings, region=region)
    overrides: dict[str, Any] = {}
    if args.platform:
        from sizing.catalog import load_catalog

        load_catalog().platform(args.platform, path="--platform")
        overrides["platform"] = args.platform
        overrides["platform_given"] = True
    if args.year is not None:
        overrides["build_year"] = args.year
    if args.samples is not None:
        overrides["samples"] = args.samples
    settings = replace(settings, **overrides)
    if args.samples is not None:  # the flag's own bound; the stack's and the forecast's run in infra.program.prepare
        _bounded(forecast, 1 if settings.platform_given else len(forecast.platforms), args.samples)
    return settings, forecast


def _plan(args: argparse.Namespace) -> int:
    from aifactory.progress import Progress
    from infra.offline import manifest_document, run_offline, summary

    settings, _forecast = _stack_settings(args)
    bar = Progress(quiet=args.json)
    bar.stage("sizing and running the Pulumi program under mocks")
    with bar.ticking():
        manifest = run_offline(settings, source=args.stack_config or "defaults")  # bounds, sanity: in prepare
    bar.finish()
    text = json.dumps(manifest_document(manifest), indent=2, sort_keys=True, default=str) + "\n"
    if args.out is not None:
        _write(args.out, text, "manifest")
    sys.stdout.write(text if args.json else summary(manifest) + _stack_summary(manifest.plan))
    _warn_cap(manifest.plan)
    api = manifest.api_violations()
    if api:
        print(f"AWS API rules: {plural(len(api), 'name or description', 'names or descriptions')} AWS would "
              "refuse; the plan is rejected:", file=sys.stderr)
        for a in api:
            print(f"  {a}", file=sys.stderr)
        return 1
    report = manifest.check()
    if not report.ok:
        print(f"sovereignty rules: {plural(len(report.violations), 'violation')}; the plan is rejected:",
              file=sys.stderr)
        for v in report.violations:
            print(f"  {v}", file=sys.stderr)
        return 1
    if not args.json:
        from infra.rules import RULES

        print(f"sovereignty rules: all {len(RULES)} pass (the same rules as the policy pack in policies/)")
    return 0


def _account_check(args: argparse.Namespace) -> int:
    from infra.findings import Clients
    from infra.program import prepare

    if not 0 < args.time_budget <= 3600:
        raise InputError("command line", "--time-budget", f"must be between 0 and 3600 seconds, got {args.time_budget}")
    settings, forecast = _stack_settings(args, region=args.region)
    _sized, _plan_doc, blueprint = prepare(settings, args.stack_config or "defaults")  # bounds and sanity too
    clients = Clients.for_region(args.region, budget_s=args.time_budget)
    if args.command == "preflight":
        from infra.preflight import preflight

        result = preflight(settings, blueprint, clients, forecast.site.region)
    else:
        from infra.verify import verify

        result = verify(settings, blueprint, clients)
    title = (f"{args.command} of {blueprint.name} ({blueprint.platform.name}, build year {blueprint.build_year}) "
             f"in {args.region}")
    sys.stdout.write(result.to_json() if args.json else result.render(title))
    return 1 if result.blocking else 0


def _verify_org(args: argparse.Namespace) -> int:
    from infra.aws import Budget, session_clients
    from infra.settings import check_on_site_cidrs
    from infra.verify_org import verify_org

    if not 0 < args.time_budget <= 3600:
        raise InputError("command line", "--time-budget", f"must be between 0 and 3600 seconds, got {args.time_budget}")
    on_site = check_on_site_cidrs(tuple(args.on_site_cidr), "command line", "--on-site-cidr", None)
    budget = Budget(args.time_budget)
    org = session_clients(args.region, {"org": "organizations"}, budget)["org"]
    result = verify_org(org, on_site, args.target, budget)
    title = f"verify-org: the SCPs {'binding ' + args.target if args.target else 'of the organisation'}"
    sys.stdout.write(result.to_json() if args.json else result.render(title))
    return 1 if result.blocking else 0


def _report(args: argparse.Namespace) -> int:
    import time

    from aifactory.progress import Progress
    from aifactory.report import calibration_summary, inventory_summary, recommend, render
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan
    from sizing.sanity import check_plan

    if not str(args.out).strip():
        raise InputError("command line", "--out", "needs a file path for the report, got an empty one")
    bar = Progress()
    started = time.perf_counter()
    forecast = load_forecast(args.forecast)
    _bounded(forecast, len(args.platforms or forecast.platforms), args.samples)
    bar.stage(f"sizing {args.samples or forecast.samples:,} Monte Carlo samples")
    plan = make_plan(forecast, platforms=args.platforms, samples=args.samples, seed=args.seed, progress=bar.update)
    check_plan(plan, forecast)
    bar.stage("calibration error")
    calibration = calibration_summary()
    inventory = None
    if not args.no_inventory:
        best, _basis = recommend(plan)
        bar.stage(f"offline plan of {best} (Pulumi program under mocks)")
        inventory = inventory_summary(forecast, plan, args.forecast, best)
    bar.stage("rendering")
    html, _facts = render(plan, calibration, inventory)
    bar.finish()
    _write(args.out, html, "report")
    print(f"wrote {args.out} ({len(html) / 1024:,.0f} KiB) in {time.perf_counter() - started:.1f} s")
    return 0


COMMANDS = {"report": _report, "size": _size, "predict": _predict, "plan": _plan, "calibrate": _calibrate,
            "preflight": _account_check, "verify": _account_check, "schema": _schema,
            "verify-org": _verify_org}


GRACE_S = 5.0  # after Ctrl-C or SIGTERM, the run has this long to unwind before it is ended hard
_SIGNALLED: list[int] = []
_SWALLOWED: list[bool] = []  # an Interrupted raised where Python cannot propagate it: deliver it again


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (a KeyboardInterrupt, so nothing that catches Exception swallows it)."""


def _exit_code(signum: int) -> int:
    return 128 + signum  # 130 for Ctrl-C (SIGINT), 143 for SIGTERM: the shell's convention


def _check_interrupted() -> None:
    """Raise if a signal arrived that something on the way swallowed (e.g. the Pulumi runtime's loop)."""
    if _SIGNALLED:
        raise Interrupted()


def _on_signal(signum: int, _frame: Any) -> None:
    """First Ctrl-C/SIGTERM: unwind with Interrupted; a watchdog ends the process if unwinding hangs."""
    if _SWALLOWED:  # the re-delivery of a swallowed first signal (see _on_unraisable)
        if _SWALLOWED[0]:
            return  # still inside the hook, where raising would be swallowed again: the next re-delivery
        _SWALLOWED.clear()
        raise Interrupted()
    first = not _SIGNALLED
    _SIGNALLED.append(signum)
    if first:
        threading.Thread(target=_hard_exit, args=(signum,), daemon=True, name="interrupt-watchdog").start()
        raise Interrupted()


def _on_unraisable(args: Any) -> None:
    """A signal that lands inside a weakref callback or a ``__del__`` (e.g. importlib's module-lock callback)
    raises there, where Python can only print "Exception ignored" and a traceback and carry on. Say nothing
    and have the signal sent again from another thread, so that it unwinds the main flow as it should."""
    if isinstance(args.exc_value, Interrupted) and _SIGNALLED:
        if not _SWALLOWED:
            _SWALLOWED.append(True)  # True while this hook runs
            threading.Thread(target=_redeliver, daemon=True, name="interrupt-redeliver").start()
            _SWALLOWED[0] = False
        return
    sys.__unraisablehook__(args)


def _redeliver() -> None:
    """Signal the main thread until the re-delivered Interrupted is raised where it can propagate."""
    while _SWALLOWED:
        signal.pthread_kill(threading.main_thread().ident or 0, _SIGNALLED[0])
        threading.Event().wait(0.05)


def _hard_exit(signum: int) -> None:
    """Runs GRACE_S after the first signal: remove partial files, say so on one line, end the process."""
    threading.Event().wait(GRACE_S)
    for temp in list(_PARTIAL):
        _remove_partial(temp)
    with contextlib.suppress(OSError):
        os.write(2, b"interrupted\n")
    os._exit(_exit_code(signum))


def _install_handlers() -> None:
    """Signal handling for a command-line run (only in the main thread; tests calling main() keep theirs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = _on_unraisable
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit makes write() fail with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _quiet_stdout() -> None:
    """The reader went away or the disk is full: point stdout at /dev/null so the exit flush cannot fail."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit codes 0, 1 (blocking findings / rejected plan), 2 (bad input), 130/143
    (interrupted by Ctrl-C / SIGTERM), 141 (stdout closed), 74 (stdout cannot be written, e.g. full),
    70 (an internal error: a bug, reported on one line; AIFACTORY_DEBUG=1 shows the traceback)."""
    cli = argv is None
    if cli:
        _install_handlers()
    code = _run(argv)
    if cli:  # never wait on threads a library left behind (the Pulumi mock loop's), nor die in finalisation
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    if sys.stdout is None:  # started with stdout closed (`aifactory ... >&-`)
        print("error: standard output is closed", file=sys.stderr)
        return 74
    try:
        args = _build().parse_args(argv)
        code = COMMANDS[args.command](args)
        _check_interrupted()
        sys.stdout.flush()
        return code
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        for temp in list(_PARTIAL):
            _remove_partial(temp)
        print("interrupted", file=sys.stderr)
        return _exit_code(_SIGNALLED[0] if _SIGNALLED else signal.SIGINT)
    except BrokenPipeError:
        # the reader went away (`aifactory plan ... | head`): stop quietly, as a Unix filter does
        _quiet_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 (the last line of defence: a bug, said on one line, not a traceback)
        if isinstance(exc, OSError) and _stdout_error(exc):
            return 74  # EX_IOERR (sysexits.h)
        if os.environ.get("AIFACTORY_DEBUG"):
            raise
        print(f"error: internal error ({type(exc).__name__}: {str(exc)[:200]}); please report it "
              "(AIFACTORY_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 70  # EX_SOFTWARE (sysexits.h)


def _stdout_error(exc: OSError) -> bool:
    """An OSError of standard output (full device, I/O error, closed descriptor): say so and quiet stdout.

    Every file the tool reads or writes turns its OSError into an InputError (load_yaml, _write): one
    without a file name that gets here is standard output.
    """
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EBADF) and exc.filename is None:
        _quiet_stdout()
        with contextlib.suppress(OSError):
            print(f"error: cannot write to standard output: {exc.strerror}", file=sys.stderr)
        return True
    return False


if __name__ == "__main__":
    raise SystemExit(main())
