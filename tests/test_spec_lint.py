"""The spec passes openapi-spec-validator and Redocly CLI's recommended ruleset, with no warnings.

Redocly CLI comes from npm through the project's package.json and package-lock.json
(`npm ci`); its settings are in redocly.yaml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator
from openapi_spec_validator.readers import read_from_filename

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "bucketlist.yaml"
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"
LINT_TIMEOUT_SECONDS = 120


def test_spec_is_valid_openapi_3_0() -> None:
    spec, base_uri = read_from_filename(str(SPEC))
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in OpenAPIV30SpecValidator(spec, base_uri=base_uri).iter_errors()
    ]
    assert errors == []


@pytest.fixture(scope="module")
def redocly() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip(
            "Redocly CLI needs Node.js and npm, which are not installed (apt-get install -y nodejs npm)"
        )
    if not REDOCLY.exists():
        pytest.fail(f"{REDOCLY.relative_to(ROOT)} is missing: run `npm ci` in {ROOT}")
    return REDOCLY


def redocly_lint(redocly: Path, spec: Path) -> dict:
    """Lint `spec` with redocly.yaml; returns Redocly's JSON report."""
    env = {
        **os.environ,
        "REDOCLY_TELEMETRY": "off",
        "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    }
    # --lint-config error: a mistake in redocly.yaml fails the run instead of being a warning.
    command = [
        str(redocly),
        "lint",
        str(spec),
        "--config",
        str(ROOT / "redocly.yaml"),
        "--lint-config",
        "error",
        "--format",
        "json",
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=LINT_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode in (0, 1), f"redocly failed to run ({result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout)


def describe(problems: list[dict]) -> str:
    return "\n".join(
        f"{p['severity']} {p['ruleId']} at {p['location'][0]['pointer']}: {p['message']}" for p in problems
    )


def test_redocly_recommended_rules_pass_without_warnings(redocly: Path) -> None:
    report = redocly_lint(redocly, SPEC)
    assert report["problems"] == [], describe(report["problems"])
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}


def test_redocly_reports_what_it_should(redocly: Path, tmp_path: Path) -> None:
    """The linter really runs our configuration: a spec without a licence draws a warning."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    del spec["info"]["license"]
    broken = tmp_path / "bucketlist.yaml"
    broken.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    report = redocly_lint(redocly, broken)
    assert [p["ruleId"] for p in report["problems"]] == ["info-license"]
