"""The ``aifactory`` command line: size, predict (and, as they land, plan, preflight, verify, report).

Exit codes: 0 success, 2 bad input (one line on stderr naming the file or flag, the field and what
is allowed), 1 a check that found a blocking problem. No traceback reaches a user for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sizing.errors import InputError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as bad input (exit 2, one line)."""

    def error(self, message: str) -> Any:
        raise InputError("command line", self.prog, message)


def _build() -> argparse.ArgumentParser:
    root = _Parser(prog="aifactory", description="Size and provision sovereign AI factories on AWS.")
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

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


def _write(path: str | Path, text: str, what: str, flag: str = "--out") -> None:
    """Write an output file; an unwritable path is bad input, not a traceback."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), flag, f"cannot write the {what}: {exc.strerror}") from None


def _size(args: argparse.Namespace) -> int:
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan, to_json
    from sizing.table import render

    forecast = load_forecast(args.forecast)
    forecast = _with_software(forecast, _software_overrides(args.software), args.platforms or forecast.platforms)
    plan = make_plan(forecast, platforms=args.platforms, samples=args.samples, seed=args.seed,
                     catalog=_catalog_for(forecast.software))
    text = to_json(plan)
    if args.out:
        _write(args.out, text, "plan")
    sys.stdout.write(text if args.json else render(plan))
    return 0


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


def _catalog_for(software: dict[str, str]) -> Any:
    """The catalog with the chosen stacks as their families' defaults, so every figure the plan prints
    (software_generation included) names the stack it was sized with. Two platforms of one family on
    different stacks keep the engine's per-platform choice; the label then follows the last."""
    from dataclasses import replace

    from sizing.catalog import load_catalog

    catalog = load_catalog()
    effs = dict(catalog.efficiency)
    for stack in software.values():
        family = effs[stack].family
        for sid, e in effs.items():
            if e.family == family:
                effs[sid] = replace(e, default=(sid == stack))
    return replace(catalog, efficiency=effs)


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

    from sizing.fitting import EFFICIENCY_FILE, dump, efficiency_document, fit

    directory = Path(args.dir)
    for name in ("inference.csv", "training.csv", "models.yaml"):
        if not (directory / name).is_file():
            raise InputError(str(directory / name), "--dir", "missing: a calibration directory holds "
                             "inference.csv, training.csv and models.yaml")
    result = fit(directory)
    text = dump(efficiency_document(result, directory))
    target = Path(args.out) if args.out else Path(str(resources.files("sizing").joinpath(EFFICIENCY_FILE)))
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
    if args.year is not None:
        overrides["build_year"] = args.year
    if args.samples is not None:
        if args.samples < 1:
            raise InputError("command line", "--samples", f"must be at least 1, got {args.samples}")
        overrides["samples"] = args.samples
    return replace(settings, **overrides), forecast


def _plan(args: argparse.Namespace) -> int:
    from infra.offline import manifest_document, run_offline, summary

    settings, _forecast = _stack_settings(args)
    manifest = run_offline(settings)
    text = json.dumps(manifest_document(manifest), indent=2, sort_keys=True, default=str) + "\n"
    if args.out:
        _write(args.out, text, "manifest")
    sys.stdout.write(text if args.json else summary(manifest))
    report = manifest.check()
    if not report.ok:
        print(f"sovereignty rules: {len(report.violations)} violation(s); the plan is rejected:", file=sys.stderr)
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

    settings, forecast = _stack_settings(args, region=args.region)
    _f, _plan_doc, blueprint = prepare(settings)
    clients = Clients.for_region(args.region)
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


def _report(args: argparse.Namespace) -> int:
    import time

    from aifactory.progress import Progress
    from aifactory.report import calibration_summary, inventory_summary, recommend, render
    from sizing.forecast import load_forecast
    from sizing.plan import make_plan

    bar = Progress()
    started = time.perf_counter()
    forecast = load_forecast(args.forecast)
    bar.stage(f"sizing {args.samples or forecast.samples:,} Monte Carlo samples")
    plan = make_plan(forecast, platforms=args.platforms, samples=args.samples, seed=args.seed, progress=bar.update)
    bar.stage("calibration error")
    calibration = calibration_summary()
    inventory = None
    if not args.no_inventory:
        best, _ = recommend(plan)
        bar.stage(f"offline plan of {best} (Pulumi program under mocks)")
        inventory = inventory_summary(forecast, plan, args.forecast, best)
    bar.stage("rendering")
    html, _facts = render(plan, forecast, calibration, inventory)
    bar.finish()
    _write(args.out, html, "report")
    print(f"wrote {args.out} ({len(html) / 1024:,.0f} KiB) in {time.perf_counter() - started:.1f} s")
    return 0


COMMANDS = {"report": _report, "size": _size, "predict": _predict, "plan": _plan, "calibrate": _calibrate,
            "preflight": _account_check, "verify": _account_check}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _build().parse_args(argv)
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`aifactory plan ... | head`): stop quietly, as a Unix filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
