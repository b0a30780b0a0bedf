"""`vaultline demo`: generate both datasets and run both examples, self-contained under one directory.

Layout: OUT/raw (generated inputs), OUT/labels (ground truth the pipelines never read),
OUT/pipelines (copies of the example specs), OUT/output (protected outputs), OUT/.vaultline
(keyring, catalog, run reports and logs, quarantine) — so `vaultline runs list` run from OUT works.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import typer

from vaultline.cli.common import emit_json

EXAMPLES = ("healthplus", "fraud")


def _examples_dir() -> Path:
    return Path(str(resources.files("vaultline.demo") / "examples"))


def run_demo(*, rows: int, out: Path, json_out: bool) -> None:
    from vaultline.audit import audit_session
    from vaultline.cli.render import console, progress, summary
    from vaultline.demo.fraud import generate_fraud
    from vaultline.demo.healthplus import generate_healthplus
    from vaultline.keys.local import LocalKeyring
    from vaultline.run.runner import run
    from vaultline.spec.loader import load
    from vaultline.state import State

    out = out.resolve()
    state = State(out / ".vaultline").ensure()
    if not json_out:
        console.print(f"Vaultline demo in {out} ({rows:,} rows per dataset)", style="bold")
    datasets = {
        "healthplus": generate_healthplus(rows, out),
        "fraud": generate_fraud(rows, out),
    }
    keyring = LocalKeyring(state.root)
    reports: dict[str, Any] = {}
    # One audit session around key creation and both runs: the demo's key uses are recorded too.
    with audit_session(state, checkpoint_reason="demo-end"):
        for example in EXAMPLES:
            target = out / "pipelines" / example
            shutil.copytree(_examples_dir() / example, target, dirs_exist_ok=True)
            loaded = load(
                target / "pipeline.yaml",
                {
                    "source_bucket": str(out / "raw"),
                    "target_bucket": str(out / "output"),
                    **_extra(example, target),
                },
            )
            for ref in loaded.pipeline.keys.values():
                keyring.ensure(ref.split("@")[0], purpose=f"demo {example}")
            with progress(enabled=not json_out) as on_phase:
                reports[example] = run(loaded, state, on_phase=on_phase)
            if not json_out:
                summary(reports[example])
    if json_out:
        emit_json(
            {"out": str(out), "datasets": {k: v.__dict__ for k, v in datasets.items()}, "reports": reports}
        )
        return
    console.print(
        f"\nInputs in {out / 'raw'}, ground truth in {out / 'labels'}, outputs in {out / 'output'}.\n"
        f"Try: cd {out} && vaultline runs list\n"
        "     vaultline audit verify | vaultline lineage features | vaultline metrics"
    )
    if not all(r["status"] == "succeeded" for r in reports.values()):
        raise typer.Exit(1)


def _extra(example: str, target: Path) -> dict[str, str]:
    return {"reference_dir": str(target)} if example == "healthplus" else {}
