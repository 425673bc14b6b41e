"""The checks Ansible itself ships: ansible-test sanity (every test) and units, on the oldest and the
newest ansible-core this collection supports, offline (tests/support/ansible_test.py says how)."""

from __future__ import annotations

import re

import pytest

from tests.support import ansible_test

SERIES = list(ansible_test.releases())
# What ansible-test says when a check could not run; none may hide here.
NOT_RUN = re.compile(r"^WARNING: (Required program .* not found|Skipping sanity test .*)$", re.MULTILINE)


def _report(result) -> str:
    """ansible-test's findings (its ERROR and FATAL lines), or its whole output when it found none."""
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(("ERROR", "FATAL"))]
    return "\n".join(lines) or result.stdout + result.stderr


@pytest.mark.parametrize("series", SERIES)
def test_sanity_passes_every_test(series, tmp_path):
    result = ansible_test.run(series, ansible_test.stage(tmp_path), "sanity")
    assert result.returncode == 0, f"ansible-test {series} sanity:\n{_report(result)}"
    assert not NOT_RUN.findall(result.stdout + result.stderr), "a sanity test did not run"


@pytest.mark.parametrize("series", SERIES)
def test_units_pass(series, tmp_path):
    result = ansible_test.run(series, ansible_test.stage(tmp_path), "units")
    assert result.returncode == 0, f"ansible-test {series} units:\n{_report(result)}"
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout[-2000:]


def test_a_module_doc_that_breaks_the_schema_fails(tmp_path):
    """validate-modules reads the docs Galaxy reads: an author not in `Name (@handle)` form is an error."""
    root = ansible_test.stage(tmp_path)
    module = root / "plugins" / "modules" / "subid.py"
    text = module.read_text()
    broken = re.sub(r"^author:\n  - .*$", "author:\n  - somebody", text, count=1, flags=re.MULTILINE)
    assert broken != text
    module.write_text(broken)
    result = ansible_test.run(SERIES[-1], root, "sanity", "--test", "validate-modules", "plugins/modules/subid.py")
    assert result.returncode != 0
    assert "plugins/modules/subid.py:0:0: invalid-documentation: DOCUMENTATION.author" in result.stdout, _report(result)


def test_the_oldest_series_is_the_oldest_meta_runtime_admits():
    lower = re.fullmatch(r">=\s*(\d+\.\d+)(\.\d+)?", ansible_test.requires_ansible())
    assert lower, f"meta/runtime.yml requires_ansible {ansible_test.requires_ansible()!r}: expected '>=X.Y.Z'"
    assert SERIES[0] == lower.group(1), f"ansible_test.OLDEST {ansible_test.OLDEST} is not of {lower.group(0)}"


def test_every_ignore_entry_explains_itself_and_no_module_is_ignored():
    """tests/sanity/ignore-*.txt: fixtures only, each with its reason; the same entries for every series."""
    files = sorted((ansible_test.ROOT / "tests" / "sanity").glob("ignore-*.txt"))
    assert [f.name for f in files] == [f"ignore-{s}.txt" for s in SERIES]
    entries = [f.read_text().splitlines() for f in files]
    assert all(e == entries[0] for e in entries), "the ignore files differ"
    for line in entries[0]:
        path, _sep, reason = line.partition(" # ")
        assert reason.strip(), f"no reason given: {line}"
        assert path.startswith("tests/"), f"only test fixtures may be ignored: {line}"
