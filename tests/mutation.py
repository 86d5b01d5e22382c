"""``make mutation``: mutmut over one module of app/ at a time, with the tests that cover it.

Each module runs in a scratch copy of the project (build/mutation/<module>/, not
committed) whose pyproject.toml names that module and its test selection, so that
a mutant is judged by the few test files that exercise it, not by the whole suite
(the machine has two CPUs). One worker, niced; the figures are printed at the end
as killed / survived / timeout / total and written to build/mutation/<module>.json.

    .venv/bin/python -m tests.mutation app/access.py            # one module
    .venv/bin/python -m tests.mutation                          # every module below
    .venv/bin/python -m tests.mutation app/orders.py --tests tests/test_first_week.py
    .venv/bin/python -m tests.mutation app/notifications.py --sample 3   # mutants numbered *3

``--sample D`` runs only the mutants whose number ends in the digit D (a systematic
tenth of each function's mutants, by mutmut's name pattern): the figures of a module
whose every mutant would take hours; the others are reported as «not checked».
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutation"

# module -> the test files that exercise it, fast enough to run once per mutant
TARGETS: dict[str, list[str]] = {
    "app/access.py": [
        "tests/test_roles.py",
        "tests/test_access_units.py",
        "tests/test_access.py::test_a_new_field_rule_reaches_existing_roles_at_its_defaults",
        "tests/test_access.py::test_permission_removed_in_ui_takes_effect_on_next_request",
        "tests/test_access.py::test_the_roles_screen_says_what_a_role_may_do_and_edits_it",
        "tests/test_api.py::test_existing_roles_get_the_openapi_document_on_upgrade",
        "tests/test_schema.py::test_restart_keeps_an_administrators_change_and_reset_restores_it",
        "tests/test_schema.py::test_the_system_administrator_opens_the_roles_screen_and_keeps_it",
        "tests/test_notifications_delivery.py::test_the_queue_screen_reaches_roles_that_existed_before_it",
    ],
    "app/customers.py": ["tests/test_customers.py", "tests/test_first_week.py"],
    "app/orders.py": [
        "tests/test_first_week.py",
        "tests/test_money.py",
        "tests/test_records.py",
        "tests/test_week_findings.py",
        "tests/test_api.py",
        "tests/test_order_rules.py",
        "tests/test_forms_property.py",  # the order item, return and review forms' rules
    ],
    "app/notifications.py": [
        "tests/test_notifications.py",
        "tests/test_notifications_policy.py",
        "tests/test_notifications_delivery.py",  # delivery, pauses, the queue report
    ],
}
COPIED = ["app", "tests", "config.py", "migrations", "translations", "babel.cfg"]


def project_file(module: str, tests: list[str]) -> str:
    listed = ", ".join(json.dumps(t) for t in tests)
    base = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return (
        base
        + "\n[tool.mutmut]\n"
        + 'source_paths = ["app"]\n'
        + f"only_mutate = [{json.dumps(module)}]\n"
        + 'also_copy = ["config.py", "migrations", "translations", "babel.cfg"]\n'
        + f"pytest_add_cli_args_test_selection = [{listed}]\n"
        + 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
        # each mutant's run starts the app (migrations, roles) before its tests: that
        # is not in the tests' own durations, and a niced run on a busy machine took
        # longer than mutmut's default limit, which called healthy mutants timeouts
        + "timeout_constant = 30\n"
    )


def run(
    module: str, tests: list[str], children: int, again: bool = False, sample: str | None = None
) -> dict[str, int]:
    """Mutate ``module``; ``again``: keep the last run's results and check once more only
    its survivors (and mutants of functions changed since), with the tests as they are now."""
    work = BUILD / Path(module).stem
    meta = work / "mutants" / (module + ".meta")
    if work.exists() and not (again and meta.exists()):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.mo")
            shutil.copytree(source, work / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, work / name)
    if again and meta.exists():
        data = json.loads(meta.read_text(encoding="utf-8"))
        data["exit_code_by_key"] = {k: (None if v == 0 else v) for k, v in data["exit_code_by_key"].items()}
        meta.write_text(json.dumps(data), encoding="utf-8")
    (work / "pyproject.toml").write_text(project_file(module, tests), encoding="utf-8")
    mutmut = Path(sys.executable).parent / "mutmut"
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        # the first start's database, roles and users, copied by every later one (tests/conftest.py)
        "KARTOTEKA_TEST_DATABASE_TEMPLATE": str(work / "template.db"),
        # mutmut's own measure of each test, to run the quickest first (tests/conftest.py)
        "KARTOTEKA_MUTATION_STATS": str(work / "mutants" / "mutmut-stats.json"),
    }
    env.pop("TEST_DATABASE_URL", None)
    subprocess.run(
        [
            "nice",
            "-n",
            "10",
            str(mutmut),
            "run",
            "--max-children",
            str(children),
            *([f"{module[:-3].replace('/', '.')}.*__mutmut_*{sample}"] if sample else []),
        ],
        cwd=work,
        env=env,
        check=False,
    )
    return summary(work, module)


def summary(work: Path, module: str) -> dict[str, int]:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((work / "mutants" / (module + ".meta")).read_text(encoding="utf-8"))
    counts = collections.Counter(status_by_exit_code[code] for code in meta["exit_code_by_key"].values())
    figures = {k: counts.pop(k, 0) for k in ("killed", "survived", "timeout")}
    figures |= dict(counts)  # suspicious, not checked, no tests…
    figures["total"] = len(meta["exit_code_by_key"])
    survivors = sorted(k for k, code in meta["exit_code_by_key"].items() if code == 0)
    (BUILD / f"{Path(module).stem}.json").write_text(
        json.dumps({"module": module, **figures, "survived_mutants": survivors}, indent=1), encoding="utf-8"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(TARGETS))
    parser.add_argument("--tests", nargs="+", help="the test files (default: the module's own selection)")
    parser.add_argument("--children", type=int, default=1)
    parser.add_argument("--again", action="store_true", help="check the last run's survivors once more")
    parser.add_argument("--sample", metavar="DIGIT", help="only the mutants whose number ends in DIGIT")
    args = parser.parse_args()
    for module in args.modules:
        figures = run(
            module, args.tests or TARGETS[module], args.children, again=args.again, sample=args.sample
        )
        print(f"{module}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
